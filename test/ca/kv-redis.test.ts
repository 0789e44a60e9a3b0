import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CaKv, VersionedValue } from '../../src/ca/kv.js';
import { loadOrCreateShared } from '../../src/ca/material.js';
import { parseKek } from '../../src/ca/envelope.js';
import { silentLogger } from '../../src/observability/logger.js';
import { describeCaKvConformance } from './kv-conformance.js';
import { TRUST_DOMAIN } from './helpers.js';

/**
 * A minimal Redis CaKv (a hash per key: value + version, compare-and-set in Lua), standing in for
 * the registry's store so the shared-material race runs against real Redis with separate connections.
 */
class TestRedisKv implements CaKv {
  constructor(private readonly redis: Redis) {}

  async kvGet(key: string): Promise<VersionedValue | undefined> {
    const [value, version] = await this.redis.hmget(key, 'value', 'version');
    return value === null || version === null ? undefined : { value, version: Number(version) };
  }

  async kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean> {
    const script = `
      local current = redis.call('HGET', KEYS[1], 'version')
      if (ARGV[2] == '' and current == false) or (current ~= false and current == ARGV[2]) then
        redis.call('HSET', KEYS[1], 'value', ARGV[1], 'version', (tonumber(current) or 0) + 1)
        return 1
      end
      return 0`;
    const result = await this.redis.eval(script, 1, key, value, expectedVersion === undefined ? '' : String(expectedVersion));
    return result === 1;
  }
}

const prefix = `accord-test:ca:${crypto.randomUUID()}:`;
const clients: Redis[] = [];
function client(): Redis {
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: false, maxRetriesPerRequest: 1 });
  clients.push(redis);
  return redis;
}

afterAll(async () => {
  const redis = clients[0] ?? client();
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  await Promise.all(clients.map((c) => c.quit()));
});

describeCaKvConformance('redis (test adapter)', () => new TestRedisKv(client()), () => prefix);

describe('shared CA material over real Redis', () => {
  let replicas: TestRedisKv[];
  beforeAll(() => {
    replicas = Array.from({ length: 4 }, () => new TestRedisKv(client()));
  });

  it('replicas on separate connections starting at once end up with the same material', async () => {
    const kek = parseKek(crypto.randomBytes(32).toString('hex'));
    const key = `${prefix}material`;
    const results = await Promise.all(
      replicas.map((kv) => loadOrCreateShared(kv, kek, key, { trustDomain: TRUST_DOMAIN, now: Date.now(), logger: silentLogger() })),
    );
    for (const r of results) expect(r.material).toEqual(results[0].material);
    expect(new Set(results.map((r) => r.version))).toEqual(new Set([1]));
  });
});
