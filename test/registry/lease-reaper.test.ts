import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { LeaseReaper } from '../../src/registry/lease-reaper.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { ReapResult } from '../../src/registry/store.js';
import { FakeTimers, flushMicrotasks, sampleWorkload } from './helpers.js';

describe('LeaseReaper', () => {
  it('reaps on its interval using the injected clock', async () => {
    const timers = new FakeTimers(0);
    const store = new MemoryStore({ logger: silentLogger(), clock: timers });
    await store.putWorkload(sampleWorkload({ id: 'short-1', leaseMs: 1000 }));
    const reaper = new LeaseReaper({ store, logger: silentLogger(), intervalMs: 500, graceAfterOutageMs: 5000, timers });
    reaper.start();
    timers.advance(500);
    await flushMicrotasks();
    expect(await store.getWorkload('short-1')).toBeDefined();
    timers.advance(500);
    await flushMicrotasks();
    expect(await store.getWorkload('short-1')).toBeUndefined();
    await reaper.stop();
  });

  it('pauses reaping for the grace period after the store failed', async () => {
    const timers = new FakeTimers(0);
    let failing = true;
    const calls: number[] = [];
    const store = {
      reapExpired: async (now: number): Promise<ReapResult> => {
        calls.push(now);
        if (failing) throw new Error('store down');
        return { leader: true, expired: [] };
      },
    };
    const reaper = new LeaseReaper({ store, logger: silentLogger(), intervalMs: 100, graceAfterOutageMs: 1000, timers });
    expect(await reaper.tick()).toBeUndefined();
    failing = false;
    timers.advance(999);
    expect(await reaper.tick()).toBeUndefined();
    expect(calls).toEqual([0]);
    timers.advance(1);
    expect(await reaper.tick()).toEqual({ leader: true, expired: [] });
    expect(calls).toEqual([0, 1000]);
  });
});
