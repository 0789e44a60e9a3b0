import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { StoreUnavailableError } from '../../src/registry/errors.js';
import { createRegistryMetrics, type RegistryMetrics } from '../../src/registry/metrics.js';
import { RegistryMirror } from '../../src/registry/mirror.js';
import { createMetricsRegistry } from '../../src/observability/metrics.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { EventRecorder, eventually, sampleWorkload } from './helpers.js';
import { RedisServerProcess } from './redis-server-process.js';

const PREFIX = '{accord-fault}:';

/** Retries while the store reports itself unavailable (reconnecting); returns the first answer. */
async function untilAvailable<T>(operation: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      return await operation();
    } catch (err) {
      if (!(err instanceof StoreUnavailableError) || Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

describe('Redis faults (private redis-server)', () => {
  let server: RedisServerProcess;
  const open: RedisStore[] = [];
  const mirrors: RegistryMirror[] = [];

  async function replica(metrics?: RegistryMetrics): Promise<RedisStore> {
    const store = await RedisStore.connect({
      target: server.url,
      keyPrefix: PREFIX,
      logger: silentLogger(),
      commandTimeoutMs: 1000,
      metrics,
    });
    open.push(store);
    return store;
  }

  function mirrorOf(store: RedisStore): RegistryMirror {
    const mirror = new RegistryMirror({ store, logger: silentLogger(), quietMs: 5, maxDelayMs: 20 });
    mirror.start();
    mirrors.push(mirror);
    return mirror;
  }

  beforeAll(async () => {
    server = await RedisServerProcess.start();
  });

  afterEach(async () => {
    for (const m of mirrors.splice(0)) m.stop();
    for (const s of open.splice(0)) await s.close();
    await server.kill();
    server.wipeData();
    await server.restart();
  });

  afterAll(async () => {
    await server.destroy();
  });

  it('fails fast while Redis is down, keeps the mirror, and resyncs without losing writes after a restart', async () => {
    const a = await replica();
    const b = await replica();
    const mirror = mirrorOf(b);
    for (let i = 0; i < 20; i++) await a.putWorkload(sampleWorkload({ id: `w-${i}` }));
    const beforeCrash = await a.putPolicies([{ kind: 'Mesh' }]);
    await mirror.waitForRevision(beforeCrash, 5000);
    const recorder = new EventRecorder(b, beforeCrash);

    await server.kill();
    for (const operation of [
      () => a.putWorkload(sampleWorkload({ id: 'during-outage' })),
      () => a.getWorkload('w-1'),
      () => a.listWorkloads(),
      () => a.kvGet('ca/root'),
      () => b.revision(),
    ]) {
      await expect(operation()).rejects.toBeInstanceOf(StoreUnavailableError);
    }
    await eventually(() => !b.healthy, 5000, 'replica to notice the outage');
    expect(mirror.snapshot().revision).toBe(beforeCrash);
    expect(mirror.snapshot().workloads.size).toBe(20);

    await server.restart();
    await eventually(() => a.healthy && b.healthy, 15_000, 'replicas to reconnect');
    await recorder.reach(beforeCrash);
    expect(recorder.resyncs().length).toBeGreaterThanOrEqual(1);
    expect(recorder.workloads.size).toBe(20);
    expect(recorder.policies).toEqual([{ kind: 'Mesh' }]);

    const after = await a.putWorkload(sampleWorkload({ id: 'after-restart' }));
    expect(after).toBe(beforeCrash + 1);
    const snapshot = await mirror.waitForRevision(after, 5000);
    expect(snapshot.workloads.size).toBe(21);
  });

  it('Redis restarted empty: replicas keep serving, restore the store once, and carry on', async () => {
    const registries = [createMetricsRegistry({ defaultMetrics: false }), createMetricsRegistry({ defaultMetrics: false })];
    const a = await replica(createRegistryMetrics(registries[0]!));
    const b = await replica(createRegistryMetrics(registries[1]!));
    const mirrorA = mirrorOf(a);
    const mirrorB = mirrorOf(b);
    let smallestSeen = Infinity;
    mirrorB.onChange((s) => (smallestSeen = Math.min(smallestSeen, s.workloads.size)));
    for (let i = 0; i < 10; i++) await a.putWorkload(sampleWorkload({ id: `w-${i}`, leaseMs: 60_000 }));
    await a.putPolicies([{ kind: 'Mesh', spec: { trustDomain: 'prod.example' } }]);
    expect(await a.kvPutIfVersion('ca/root', 'ROOT-PEM', undefined)).toBe(true);
    const known = await a.kvPutIfVersion('ca/state', 'rotation-1', undefined);
    expect(known).toBe(true);
    const lastKnown = await a.revision();
    await mirrorA.waitForRevision(lastKnown, 5000);
    await mirrorB.waitForRevision(lastKnown, 5000);
    smallestSeen = Infinity;

    await server.kill();
    server.wipeData();
    await server.restart();

    // From the first answer on, reads never come from the empty store (the CA must never read
    // "no root"): whichever runs first, the guarded read or the follower, restores before answering.
    const firstAnswers = await Promise.all([
      untilAvailable(() => a.kvGet('ca/root')),
      untilAvailable(() => b.getWorkload('w-3')),
      untilAvailable(() => b.getPolicies()),
    ]);
    expect(firstAnswers[0]).toEqual({ value: 'ROOT-PEM', version: 1 });
    expect(firstAnswers[1]?.workload.id).toBe('w-3');
    expect(firstAnswers[2].docs).toHaveLength(1);
    await eventually(() => a.healthy && b.healthy, 15_000, 'replicas to reconnect');

    expect((await a.listWorkloads()).length).toBe(10);
    expect((await b.getPolicies()).docs).toEqual([{ kind: 'Mesh', spec: { trustDomain: 'prod.example' } }]);
    expect(await b.revision()).toBeGreaterThan(lastKnown);
    expect(mirrorA.snapshot().workloads.size).toBe(10);
    expect(mirrorB.snapshot().workloads.size).toBe(10);
    expect(smallestSeen === Infinity || smallestSeen === 10).toBe(true);

    const admin = new Redis(server.url);
    const entries = await admin.xrange(`${PREFIX}feed`, '-', '+');
    admin.disconnect();
    expect(entries.filter(([, fields]) => fields.includes('restored'))).toHaveLength(1);
    const exposition = (await Promise.all(registries.map((r) => r.metrics()))).join('\n');
    expect(exposition.match(/accord_registry_restores_total\{result="restored"\} 1/g)).toHaveLength(1);

    // Business as usual afterwards, on both replicas.
    expect(await b.kvPutIfVersion('ca/state', 'rotation-2', 1)).toBe(true);
    const revision = await b.deleteWorkload('w-0');
    const snapshot = await mirrorA.waitForRevision(revision, 5000);
    expect(snapshot.workloads.size).toBe(9);
  });

  it('never hangs on a Redis that stops answering (no connection reset), and recovers', async () => {
    const a = await replica();
    const mirror = mirrorOf(a);
    const before = await a.putWorkload(sampleWorkload({ id: 'before-1' }));
    await mirror.waitForRevision(before, 5000);
    server.pause();
    try {
      await expect(a.putWorkload(sampleWorkload({ id: 'frozen-1' }))).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(a.getWorkload('before-1')).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(mirror.snapshot().workloads.has('before-1')).toBe(true);
    } finally {
      server.resume();
    }
    const after = await untilAvailable(() => a.putWorkload(sampleWorkload({ id: 'after-1' })));
    const snapshot = await mirror.waitForRevision(after, 10_000);
    expect(snapshot.workloads.has('after-1')).toBe(true);
  });

  it('a replica started after an empty restart treats the empty store as the truth', async () => {
    const store = await replica();
    expect(await store.listWorkloads()).toEqual([]);
    expect(await store.putWorkload(sampleWorkload())).toBe(1);
  });
});
