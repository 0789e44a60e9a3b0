import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SHARED_CA_KEY, parseKek } from '../../src/ca/index.js';
import { REDIS_URL, connectStore, deletePrefix } from '../registry/redis-helpers.js';
import { call, startIn, tempDir } from '../security/support.js';

/** Issue #15: the KEK rotates without downtime (current + previous), and ACCORD_CA_KEK_ID is honoured. */
describe('KEK rotation (real Redis)', () => {
  const prefix = `accord-kek-${randomBytes(4).toString('hex')}`;
  const kekA = randomBytes(32).toString('hex');
  const kekB = randomBytes(32).toString('base64');
  const dirs: { remove(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const d of dirs) await d.remove();
    await deletePrefix(`{${prefix}}:`);
  });

  const sealedWith = async (): Promise<string> => {
    const store = await connectStore(`{${prefix}}:`);
    try {
      const stored = await store.kvGet(DEFAULT_SHARED_CA_KEY);
      if (!stored) throw new Error('no CA material in Redis');
      return (JSON.parse(stored.value) as { kid: string }).kid;
    } finally {
      await store.close();
    }
  };
  const rootWith = async (env: NodeJS.ProcessEnv): Promise<string> => {
    const dir = await tempDir();
    dirs.push(dir);
    const replica = await startIn(dir.dir, { redis: REDIS_URL, redisPrefix: prefix }, env);
    try {
      return (await call(replica.http, 'GET', '/v1/ca/bundle', { token: null })).text;
    } finally {
      await replica.close();
    }
  };

  it('A, then B with previous A (re-sealed with B, same root), then B alone; a wrong KEK fails the start', async () => {
    const idA = parseKek(kekA).id;
    const idB = parseKek(kekB).id;
    const root = await rootWith({ ACCORD_CA_KEK: kekA });
    expect(root).toContain('BEGIN CERTIFICATE');
    expect(await sealedWith()).toBe(idA);

    // Two replicas start at once with the new KEK: both read, one re-seal wins, both agree.
    const [r1, r2] = await Promise.all([
      rootWith({ ACCORD_CA_KEK: kekB, ACCORD_CA_KEK_PREVIOUS: kekA }),
      rootWith({ ACCORD_CA_KEK: kekB, ACCORD_CA_KEK_PREVIOUS: kekA }),
    ]);
    expect(r1).toBe(root);
    expect(r2).toBe(root);
    expect(await sealedWith()).toBe(idB);

    expect(await rootWith({ ACCORD_CA_KEK: kekB })).toBe(root);
    const dir = await tempDir();
    dirs.push(dir);
    await expect(startIn(dir.dir, { redis: REDIS_URL, redisPrefix: prefix }, { ACCORD_CA_KEK: kekA })).rejects.toThrow(
      `sealed with KEK "${idB}", but the configured KEK is "${idA}"`,
    );
    console.log(`KEK rotation: root unchanged across A → B+A → B; envelope ${idA} → ${idB}; A alone refused`);
  }, 60_000);

  it('ACCORD_CA_KEK_ID names the envelope, and the id rotates with the key', async () => {
    const other = `accord-kekid-${randomBytes(4).toString('hex')}`;
    const kekC = randomBytes(32).toString('hex');
    const start = async (env: NodeJS.ProcessEnv): Promise<string> => {
      const dir = await tempDir();
      dirs.push(dir);
      const replica = await startIn(dir.dir, { redis: REDIS_URL, redisPrefix: other }, env);
      await replica.close();
      const store = await connectStore(`{${other}}:`);
      try {
        return (JSON.parse((await store.kvGet(DEFAULT_SHARED_CA_KEY))?.value ?? '{}') as { kid: string }).kid;
      } finally {
        await store.close();
      }
    };
    try {
      expect(await start({ ACCORD_CA_KEK: kekA, ACCORD_CA_KEK_ID: 'vault-2026-01' })).toBe('vault-2026-01');
      expect(
        await start({ ACCORD_CA_KEK: kekC, ACCORD_CA_KEK_ID: 'vault-2026-07', ACCORD_CA_KEK_PREVIOUS: kekA, ACCORD_CA_KEK_PREVIOUS_ID: 'vault-2026-01' }),
      ).toBe('vault-2026-07');
      expect(await start({ ACCORD_CA_KEK: kekC, ACCORD_CA_KEK_ID: 'vault-2026-07' })).toBe('vault-2026-07');
    } finally {
      await deletePrefix(`{${other}}:`);
    }
  }, 60_000);
});
