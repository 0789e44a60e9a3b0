import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { LeaseReaper } from '../../src/registry/lease-reaper.js';
import { RegistryMirror } from '../../src/registry/mirror.js';
import { DELETE_WORKLOAD, PUT_WORKLOAD, REDIS_KEY_NAMES } from '../../src/registry/redis-scripts.js';
import type { RedisStore } from '../../src/registry/redis-store.js';
import { EventRecorder, eventually, sampleWorkload } from './helpers.js';
import { REDIS_URL, connectStore, deletePrefix, randomPrefix } from './redis-helpers.js';

describe('Redis replicas on one prefix', () => {
  let prefix: string;
  let a: RedisStore;
  let b: RedisStore;

  beforeEach(async () => {
    prefix = randomPrefix();
    a = await connectStore(prefix);
    b = await connectStore(prefix);
  });

  afterEach(async () => {
    await a.close();
    await b.close();
    await deletePrefix(prefix);
  });

  it("a put on one replica reaches the other's watchers and mirror", async () => {
    const mirror = new RegistryMirror({ store: b, logger: silentLogger(), quietMs: 5, maxDelayMs: 20 });
    mirror.start();
    const recorder = new EventRecorder(b, await b.revision());
    const revision = await a.putWorkload(sampleWorkload({ id: 'orders-1' }));
    const policies = await a.putPolicies([{ kind: 'Mesh' }]);
    const snapshot = await mirror.waitForRevision(policies, 5000);
    expect(snapshot.workloads.get('orders-1')).toEqual(sampleWorkload({ id: 'orders-1' }));
    expect(snapshot.policies).toEqual([{ kind: 'Mesh' }]);
    await recorder.reach(policies);
    expect(recorder.changes().map((e) => e.revision)).toEqual([revision, policies]);
    mirror.stop();
    recorder.unsubscribe();
  });

  it('both replicas see one order of concurrent writes', async () => {
    const recA = new EventRecorder(a, await a.revision());
    const recB = new EventRecorder(b, await b.revision());
    const writes = [];
    for (let i = 0; i < 50; i++) {
      writes.push(a.putWorkload(sampleWorkload({ id: `a-${i}` })), b.putWorkload(sampleWorkload({ id: `b-${i}` })));
    }
    const revisions = await Promise.all(writes);
    const last = Math.max(...revisions);
    await recA.reach(last);
    await recB.reach(last);
    expect(recA.changes().map((e) => e.key)).toEqual(recB.changes().map((e) => e.key));
    expect(recA.workloads.size).toBe(100);
    recA.unsubscribe();
    recB.unsubscribe();
  });

  it('a replica that missed trimmed feed entries resyncs to the full state', async () => {
    const recorder = new EventRecorder(b, await b.revision());
    const first = await a.putWorkload(sampleWorkload({ id: 'first-1' }));
    await recorder.reach(first);
    // Two real store writes and a trim of the feed in one transaction: B can never read them.
    const admin = new Redis(REDIS_URL);
    const keys = REDIS_KEY_NAMES.map((name) => prefix + name);
    const epoch = (await admin.get(`${prefix}epoch`)) ?? '';
    const second = JSON.stringify(sampleWorkload({ id: 'second-1' }));
    await admin
      .multi()
      .eval(PUT_WORKLOAD, keys.length, ...keys, epoch, 1000, 'second-1', second, '', '')
      .eval(DELETE_WORKLOAD, keys.length, ...keys, epoch, 1000, 'first-1', '')
      .xtrim(`${prefix}feed`, 'MAXLEN', 0)
      .exec();
    admin.disconnect();
    const third = await a.putWorkload(sampleWorkload({ id: 'third-1' }));
    expect(third).toBe(first + 3);
    await recorder.reach(third);
    expect(recorder.resyncs()).toHaveLength(1);
    expect([...recorder.workloads.keys()].sort()).toEqual(['second-1', 'third-1']);
    recorder.unsubscribe();
  });

  it('only the replica holding the lock reaps, and each expiry is published once', async () => {
    const recorder = new EventRecorder(b, await b.revision());
    const t0 = 5_000_000;
    for (let i = 0; i < 5; i++) await a.putWorkload(sampleWorkload({ id: `lease-${i}`, leaseMs: 1000 }), { now: t0 });
    const first = await a.reapExpired(t0 + 2000);
    const second = await b.reapExpired(t0 + 2000);
    expect(first.leader).toBe(true);
    expect(first.expired).toHaveLength(5);
    expect(second).toEqual({ leader: false, expired: [] });
    await recorder.reach(await a.revision());
    expect(recorder.changes().filter((e) => e.op === 'delete' && e.reason === 'expired')).toHaveLength(5);
    // The lock stays with its holder while it keeps reaping; after close it is released.
    expect((await b.reapExpired(t0 + 3000)).leader).toBe(false);
    await a.close();
    expect((await b.reapExpired(t0 + 3000)).leader).toBe(true);
    a = await connectStore(prefix);
    recorder.unsubscribe();
  });

  it('another replica takes the reaper lock once the holder stops renewing it', async () => {
    const prefix2 = randomPrefix();
    const options = { reaperLockTtlMs: 300, reapBatch: 2 };
    const x = await connectStore(prefix2, options);
    const y = await connectStore(prefix2, options);
    try {
      for (let i = 0; i < 5; i++) await x.putWorkload(sampleWorkload({ id: `l-${i}`, leaseMs: 10 }), { now: 0 });
      // The batch limit spreads a large expiry over several passes.
      expect(await x.reapExpired(1000)).toEqual({ leader: true, expired: ['l-0', 'l-1'] });
      expect((await y.reapExpired(1000)).leader).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await y.reapExpired(1000)).toEqual({ leader: true, expired: ['l-2', 'l-3'] });
      expect((await x.reapExpired(1000)).leader).toBe(false);
    } finally {
      await x.close();
      await y.close();
      await deletePrefix(prefix2);
    }
  });

  it('with real reapers on both replicas, an unrenewed lease disappears and a renewed one stays', async () => {
    const reapers = [a, b].map(
      (store) => new LeaseReaper({ store, logger: silentLogger(), intervalMs: 50, absentAfterMs: 200, reconnectWindowMs: 300 }),
    );
    const mirror = new RegistryMirror({ store: b, logger: silentLogger(), quietMs: 5, maxDelayMs: 20 });
    mirror.start();
    // Generous margins: a heartbeat every 100 ms against a 1.5 s lease survives a loaded machine.
    await a.putWorkload(sampleWorkload({ id: 'silent-1', leaseMs: 1500 }));
    await a.putWorkload(sampleWorkload({ id: 'beating-1', leaseMs: 1500 }));
    const heartbeat = setInterval(() => void b.renewLease('beating-1', Date.now()).catch(() => undefined), 100);
    for (const reaper of reapers) reaper.start();
    try {
      await eventually(() => mirror.snapshot().workloads.has('beating-1') && !mirror.snapshot().workloads.has('silent-1'), 10_000, 'silent lease to expire');
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(mirror.snapshot().workloads.has('beating-1')).toBe(true);
    } finally {
      clearInterval(heartbeat);
      for (const reaper of reapers) await reaper.stop();
      mirror.stop();
    }
  });

  describe('presence: downtime of the whole control plane never counts against a lease', () => {
    const presence = { absentAfterMs: 1000, reconnectWindowMs: 500 };
    const t0 = 10_000_000;

    it('a replica joining while another is up extends nothing; leases expire on time', async () => {
      await a.putWorkload(sampleWorkload({ id: 'lease-1', leaseMs: 3000 }), { now: t0 });
      expect(await a.reapExpired(t0, presence)).toEqual({ leader: false, expired: [], joining: true });
      const decided = await a.reapExpired(t0 + 1000, presence);
      expect(decided.extended).toBe(1); // the first replica ever: nobody was up before it
      const results: { t: number; b: Awaited<ReturnType<RedisStore['reapExpired']>> }[] = [];
      for (let t = t0 + 1500; t <= t0 + 4000; t += 500) {
        expect((await a.reapExpired(t, presence)).expired).toEqual([]);
        if (t >= t0 + 2500) results.push({ t, b: await b.reapExpired(t, presence) });
      }
      // B joined at t0 + 2500 while A was beating, and decided at t0 + 3500: A was up before and after.
      expect(results.map((r) => r.b)).toEqual([
        { leader: false, expired: [], joining: true },
        { leader: false, expired: [], joining: true },
        { leader: false, expired: [] },
        { leader: false, expired: [] },
      ]);
      // Extended once, by A at t0 + 1000: to t0 + 1000 + 3000 + 500. B's decision moved nothing.
      expect((await a.reapExpired(t0 + 4500, presence)).expired).toEqual(['lease-1']);
    });

    it('after every replica was away, exactly one replica extends every lease, by a full lease plus the window', async () => {
      await a.putWorkload(sampleWorkload({ id: 'lease-1', leaseMs: 3000 }), { now: t0 });
      await a.putWorkload(sampleWorkload({ id: 'lease-2', leaseMs: 6000 }), { now: t0 });
      await a.putWorkload(sampleWorkload({ id: 'no-lease-1' }), { now: t0 });
      for (const t of [t0, t0 + 1000, t0 + 1500]) {
        await a.reapExpired(t, presence);
        await b.reapExpired(t, presence);
      }
      // Both away for 10 s (three leases), then back 100 ms apart.
      const back = t0 + 11_500;
      expect((await a.reapExpired(back, presence)).joining).toBe(true);
      expect((await b.reapExpired(back + 100, presence)).joining).toBe(true);
      const first = await a.reapExpired(back + 1000, presence);
      const second = await b.reapExpired(back + 1100, presence);
      expect(first.extended).toBe(2);
      expect(first.expired).toEqual([]);
      expect(second.extended).toBeUndefined();
      expect(second.expired).toEqual([]);
      // Each lease ends a full lease plus the window after the extension (back + 1000).
      const expiredAt = new Map<string, number>();
      for (let t = back + 1200; t <= back + 8000; t += 100) {
        for (const id of (await a.reapExpired(t, presence)).expired) expiredAt.set(id, t);
      }
      expect(Object.fromEntries(expiredAt)).toEqual({ 'lease-1': back + 1000 + 3000 + 500, 'lease-2': back + 1000 + 6000 + 500 });
      expect(await a.getWorkload('no-lease-1')).toBeDefined();
    });

    it("a crashed replica's last heartbeat does not hide the outage from the replica that replaces it", async () => {
      const crashed = await connectStore(prefix, { reaperLockTtlMs: 200 });
      await crashed.putWorkload(sampleWorkload({ id: 'lease-1', leaseMs: 3000 }), { now: t0 });
      await crashed.reapExpired(t0, presence);
      expect((await crashed.reapExpired(t0 + 1000, presence)).leader).toBe(true);
      // It crashes (never releases its presence); its replacement C starts 400 ms later.
      const c = await connectStore(prefix);
      try {
        const restart = t0 + 1400;
        expect((await c.reapExpired(restart, presence)).joining).toBe(true);
        const decided = await c.reapExpired(restart + 1000, presence);
        expect(decided.extended).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 400)); // the crashed holder's reaper lock lapses
        let expiredAt: number | undefined;
        for (let t = restart + 1100; t <= restart + 5000 && expiredAt === undefined; t += 100) {
          if ((await c.reapExpired(t, presence)).expired.includes('lease-1')) expiredAt = t;
        }
        expect(expiredAt).toBe(restart + 1000 + 3000 + 500);
      } finally {
        await c.close();
        await crashed.close();
      }
    });

    it('a replica leaving gracefully takes its presence with it', async () => {
      const c = await connectStore(prefix);
      await c.reapExpired(t0, presence);
      await c.close();
      const admin = new Redis(REDIS_URL);
      try {
        expect(await admin.hlen(`${prefix}presence`)).toBe(0);
      } finally {
        admin.disconnect();
      }
    });
  });
});
