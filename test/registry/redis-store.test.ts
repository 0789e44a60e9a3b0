import { describe, expect, it } from 'vitest';
import { describeStoreConformance } from './store-conformance.js';
import { connectStore, deletePrefix, randomPrefix } from './redis-helpers.js';
import { StoreUnavailableError, ValidationError } from '../../src/registry/errors.js';
import { RedisStore } from '../../src/registry/redis-store.js';
import { silentLogger } from '../../src/observability/logger.js';

describeStoreConformance('redis', async () => {
  const prefix = randomPrefix();
  const store = await connectStore(prefix);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await deletePrefix(prefix);
    },
  };
});

describe('RedisStore connection', () => {
  it('rejects an unsupported URL as a field error', async () => {
    const error = await RedisStore.connect({ target: 'memcached://x', logger: silentLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).errors[0]?.field).toBe('target');
  });

  it('fails fast with StoreUnavailableError when Redis is not there', async () => {
    const started = Date.now();
    const error = await RedisStore.connect({ target: 'redis://127.0.0.1:1', logger: silentLogger() }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/127\.0\.0\.1:1/);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
