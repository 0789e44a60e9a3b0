import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { silentLogger } from '../../src/observability/logger.js';
import { RedisStore, type RedisStoreOptions } from '../../src/registry/redis-store.js';

export const REDIS_URL = process.env.ACCORD_TEST_REDIS ?? 'redis://127.0.0.1:6379';

export function randomPrefix(): string {
  return `{accord-test-${randomBytes(6).toString('hex')}}:`;
}

/** Deletes every key under the prefix (tests clean up after themselves). */
export async function deletePrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const admin = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await admin.connect();
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix.replace(/[[\]*?\\]/g, '\\$&')}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await admin.del(...keys);
    } while (cursor !== '0');
  } finally {
    admin.disconnect();
  }
}

export function connectStore(prefix: string, overrides: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  return RedisStore.connect({ target: REDIS_URL, keyPrefix: prefix, logger: silentLogger(), ...overrides });
}
