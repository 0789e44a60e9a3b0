import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { RegistryMirror } from '../../src/registry/mirror.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { sampleWorkload } from './helpers.js';
import { RedisSentinelProcess } from './redis-server-process.js';

describe('RedisStore through Redis Sentinel', () => {
  let sentinel: RedisSentinelProcess;

  beforeAll(async () => {
    sentinel = await RedisSentinelProcess.start();
  });

  afterAll(async () => {
    await sentinel.destroy();
  });

  it('finds the master from a redis-sentinel:// URL and works end to end', async () => {
    const a = await RedisStore.connect({ target: sentinel.url, logger: silentLogger() });
    const b = await RedisStore.connect({
      target: { sentinels: [{ host: '127.0.0.1', port: sentinel.sentinelPort }], name: 'mymaster' },
      logger: silentLogger(),
    });
    const mirror = new RegistryMirror({ store: b, logger: silentLogger(), quietMs: 5, maxDelayMs: 20 });
    mirror.start();
    try {
      const revision = await a.putWorkload(sampleWorkload());
      const snapshot = await mirror.waitForRevision(revision, 5000);
      expect(snapshot.workloads.get('orders-abc123')).toEqual(sampleWorkload());
      expect(await b.getWorkload('orders-abc123')).toEqual({ workload: sampleWorkload(), revision });
    } finally {
      mirror.stop();
      await a.close();
      await b.close();
    }
  });
});
