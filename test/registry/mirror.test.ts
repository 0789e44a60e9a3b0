import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { RegistryMirror, type MirrorSnapshot } from '../../src/registry/mirror.js';
import { FakeClock, flushMicrotasks, sampleWorkload } from './helpers.js';

function setup(quietMs = 100, maxDelayMs = 1000) {
  const store = new MemoryStore({ logger: silentLogger() });
  const timers = new FakeClock();
  const mirror = new RegistryMirror({ store, logger: silentLogger(), quietMs, maxDelayMs, clock: timers });
  const published: MirrorSnapshot[] = [];
  mirror.onChange((s) => published.push(s));
  mirror.start();
  return { store, timers, mirror, published };
}

describe('RegistryMirror', () => {
  it('applies changes and derives services', async () => {
    const { store, mirror } = setup();
    await store.putWorkload(sampleWorkload({ id: 'orders-1' }));
    await store.putWorkload(sampleWorkload({ id: 'pay-1', service: 'payments', protocol: 'grpc', port: 50051 }));
    const revision = await store.putPolicies([{ kind: 'Mesh' }]);
    const snapshot = await mirror.waitForRevision(revision);
    expect(snapshot.revision).toBe(revision);
    expect([...snapshot.workloads.keys()].sort()).toEqual(['orders-1', 'pay-1']);
    expect(snapshot.services.get('default/payments')).toEqual({ name: 'payments', namespace: 'default', protocol: 'grpc', ports: [50051] });
    expect(snapshot.policies).toEqual([{ kind: 'Mesh' }]);
    mirror.stop();
  });

  it('re-derives only the services a change touched, including a workload moving service', async () => {
    const { store, mirror } = setup();
    await store.putWorkload(sampleWorkload({ id: 'w-1', port: 8080 }));
    await store.putWorkload(sampleWorkload({ id: 'w-2', port: 8081 }));
    await store.putWorkload(sampleWorkload({ id: 'p-1', service: 'payments', port: 9000 }));
    const before = await mirror.waitForRevision(3);
    expect(before.services.get('default/orders')?.ports).toEqual([8080, 8081]);
    await store.putWorkload(sampleWorkload({ id: 'w-2', service: 'payments', port: 9001 }));
    const moved = await mirror.waitForRevision(4);
    expect(moved.services.get('default/orders')?.ports).toEqual([8080]);
    expect(moved.services.get('default/payments')?.ports).toEqual([9000, 9001]);
    await store.deleteWorkload('w-1');
    const gone = await mirror.waitForRevision(5);
    expect(gone.services.has('default/orders')).toBe(false);
    expect(before.services.get('default/orders')?.ports).toEqual([8080, 8081]);
    mirror.stop();
  });

  it('publishes immutable snapshots: later changes do not alter earlier ones', async () => {
    const { store, mirror } = setup();
    await mirror.waitForRevision(await store.putWorkload(sampleWorkload({ id: 'a-1' })));
    const first = mirror.snapshot();
    await mirror.waitForRevision(await store.putWorkload(sampleWorkload({ id: 'b-1' })));
    expect([...first.workloads.keys()]).toEqual(['a-1']);
    expect(mirror.snapshot().workloads.size).toBe(2);
    expect(Object.isFrozen(first)).toBe(true);
    expect(Object.isFrozen(first.workloads.get('a-1'))).toBe(true);
    expect(Object.isFrozen(first.services.get('default/orders')?.ports)).toBe(true);
    mirror.stop();
  });

  it('coalesces a burst into one notification after the quiet period', async () => {
    const { store, timers, mirror, published } = setup(100, 1000);
    for (let i = 0; i < 5; i++) await store.putWorkload(sampleWorkload({ id: `w-${i}` }));
    await flushMicrotasks();
    timers.advance(99);
    expect(published).toHaveLength(0);
    timers.advance(1);
    expect(published).toHaveLength(1);
    expect(published[0]?.workloads.size).toBe(5);
    timers.advance(5000);
    expect(published).toHaveLength(1);
    mirror.stop();
  });

  it('fires by the maximum delay under continuous churn', async () => {
    const { store, timers, mirror, published } = setup(100, 300);
    for (let i = 0; i < 10; i++) {
      await store.putWorkload(sampleWorkload({ id: `w-${i}` }));
      await flushMicrotasks();
      timers.advance(50);
    }
    // Changes every 50 ms from t=0: the quiet period never elapses; the max delay fires at t=300,
    // after revisions 1..6 (t=0..250).
    expect(published.length).toBeGreaterThanOrEqual(1);
    expect(published[0]?.revision).toBe(6);
    timers.advance(100);
    expect(published.at(-1)?.revision).toBe(10);
    mirror.stop();
  });

  it('rebuilds from a resync and keeps its snapshot when the store goes away', async () => {
    const store = new MemoryStore({ logger: silentLogger(), historyLimit: 2 });
    for (let i = 0; i < 10; i++) await store.putWorkload(sampleWorkload({ id: `w-${i}` }));
    const timers = new FakeClock();
    const mirror = new RegistryMirror({ store, logger: silentLogger(), quietMs: 10, maxDelayMs: 20, clock: timers });
    mirror.start();
    const snapshot = await mirror.waitForRevision(10);
    expect(snapshot.workloads.size).toBe(10);
    await store.close();
    expect(mirror.snapshot()).toBe(snapshot);
    mirror.stop();
  });

  it('times out waitForRevision through the injected timers', async () => {
    const { mirror, timers } = setup();
    const waiting = mirror.waitForRevision(5, 1000);
    timers.advance(1000);
    await expect(waiting).rejects.toThrow(/revision 5/);
    mirror.stop();
  });

  it('rejects a debounce whose maximum is below its quiet period', () => {
    const store = new MemoryStore({ logger: silentLogger() });
    expect(() => new RegistryMirror({ store, logger: silentLogger(), quietMs: 100, maxDelayMs: 50 })).toThrow(RangeError);
    const mirror = new RegistryMirror({ store, logger: silentLogger(), quietMs: 1, maxDelayMs: 2 });
    expect(() => mirror.setDebounce({ quietMs: -1, maxDelayMs: 2 })).toThrow(RangeError);
  });

  it('takes a new debounce from the next change on', async () => {
    const { store, timers, mirror, published } = setup(100, 1000);
    mirror.setDebounce({ quietMs: 10, maxDelayMs: 20 });
    await store.putWorkload(sampleWorkload());
    await flushMicrotasks();
    timers.advance(10);
    expect(published).toHaveLength(1);
    mirror.stop();
  });
});
