import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { ValidationError } from '../../src/registry/errors.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { EventRecorder, sampleWorkload } from './helpers.js';
import { randomPrefix } from './redis-helpers.js';
import { RedisClusterProcess } from './redis-server-process.js';
import { describeStoreConformance } from './store-conformance.js';

let cluster: RedisClusterProcess | undefined;

// Forming a cluster can be slow on a loaded machine; give it its own generous budget.
beforeAll(async () => {
  cluster = await RedisClusterProcess.start();
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
});

async function connect(prefix: string): Promise<RedisStore> {
  if (cluster === undefined) throw new Error('cluster did not start');
  return RedisStore.connect({ target: { cluster: { nodes: cluster.nodes } }, keyPrefix: prefix, logger: silentLogger() });
}

// Each test gets its own prefix (its own hash slot); the cluster is thrown away at the end.
describeStoreConformance('redis cluster', async () => {
  const store = await connect(randomPrefix());
  return { store, cleanup: () => store.close() };
});

describe('RedisStore on Redis Cluster', () => {
  it('refuses a key prefix without a hash tag', async () => {
    await expect(connect('accord:')).rejects.toBeInstanceOf(ValidationError);
  });

  it('propagates between two replicas through the cluster', async () => {
    const prefix = randomPrefix();
    const a = await connect(prefix);
    const b = await connect(prefix);
    const recorder = new EventRecorder(b, await b.revision());
    const revision = await a.putWorkload(sampleWorkload());
    await recorder.reach(revision);
    expect(recorder.workloads.get('orders-abc123')).toEqual(sampleWorkload());
    recorder.unsubscribe();
    await a.close();
    await b.close();
  });
});
