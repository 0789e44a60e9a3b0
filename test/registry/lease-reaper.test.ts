import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { LeaseReaper } from '../../src/registry/lease-reaper.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { createLeaseMetrics } from '../../src/registry/metrics.js';
import type { ReapPresence, ReapResult } from '../../src/registry/store.js';
import { FakeClock, flushMicrotasks, sampleWorkload } from './helpers.js';

const tickTo = async (timers: FakeClock, ms: number): Promise<void> => {
  timers.advance(ms);
  await flushMicrotasks();
};

describe('LeaseReaper', () => {
  it('reaps nothing while joining, extends every lease once it finds it was the only replica, then reaps on its interval', async () => {
    const timers = new FakeClock(0);
    const store = new MemoryStore({ logger: silentLogger(), clock: timers });
    await store.putWorkload(sampleWorkload({ id: 'short-1', leaseMs: 1000 }));
    const metrics = createLeaseMetrics(new Registry());
    const reaper = new LeaseReaper({ store, logger: silentLogger(), intervalMs: 500, absentAfterMs: 1000, reconnectWindowMs: 500, metrics, clock: timers });
    reaper.start();
    await tickTo(timers, 500); // t=500: joins
    await tickTo(timers, 500); // t=1000: the deadline has come, but the replica is still joining
    expect(await store.getWorkload('short-1')).toBeDefined();
    await tickTo(timers, 500); // t=1500: decides; the lease now ends at 1500 + 1000 + 500
    expect((await metrics.extensions.get()).values[0]?.value).toBe(1);
    await tickTo(timers, 1000); // t=2500
    expect(await store.getWorkload('short-1')).toBeDefined();
    await tickTo(timers, 500); // t=3000
    expect(await store.getWorkload('short-1')).toBeUndefined();
    expect((await metrics.expired.get()).values[0]?.value).toBe(1);
    expect(reaper.lastTickAt).toBe(3000);
    await reaper.stop();
  });

  it('rejoins after the store failed: the next call says so, the one after does not', async () => {
    const timers = new FakeClock(0);
    let failing = true;
    const calls: { now: number; presence: ReapPresence | undefined }[] = [];
    const store = {
      reapExpired: async (now: number, presence?: ReapPresence): Promise<ReapResult> => {
        calls.push({ now, presence });
        if (failing) throw new Error('store down');
        return { leader: true, expired: [] };
      },
    };
    const reaper = new LeaseReaper({ store, logger: silentLogger(), intervalMs: 100, absentAfterMs: 1000, reconnectWindowMs: 30_000, clock: timers });
    expect(await reaper.tick()).toBeUndefined();
    expect(await reaper.tick()).toBeUndefined();
    failing = false;
    timers.advance(100);
    expect(await reaper.tick()).toEqual({ leader: true, expired: [] });
    expect(await reaper.tick()).toEqual({ leader: true, expired: [] });
    expect(calls.map((c) => c.presence)).toEqual([
      { absentAfterMs: 1000, reconnectWindowMs: 30_000, rejoin: false },
      { absentAfterMs: 1000, reconnectWindowMs: 30_000, rejoin: true },
      { absentAfterMs: 1000, reconnectWindowMs: 30_000, rejoin: true },
      { absentAfterMs: 1000, reconnectWindowMs: 30_000, rejoin: false },
    ]);
  });
});
