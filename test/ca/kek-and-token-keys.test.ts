import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { KekError, WorkloadTokens, kekFromEnv, parseKek, tokenKeyId } from '../../src/ca/index.js';
import { open, seal } from '../../src/ca/envelope.js';

describe('KEK: current and previous', () => {
  const a = randomBytes(32).toString('hex');
  const b = randomBytes(32).toString('hex');

  it('opens envelopes of the previous KEK, seals with the current one, and names both in a refusal', () => {
    const old = seal(parseKek(a), 'secret', 'ctx');
    const both = kekFromEnv({ ACCORD_CA_KEK: b, ACCORD_CA_KEK_PREVIOUS: a });
    if (!both) throw new Error('no KEK');
    expect(open(both, old, 'ctx')).toBe('secret');
    expect(seal(both, 'x', 'ctx').kid).toBe(parseKek(b).id);
    const c = kekFromEnv({ ACCORD_CA_KEK: randomBytes(32).toString('hex'), ACCORD_CA_KEK_PREVIOUS: randomBytes(32).toString('hex') });
    if (!c) throw new Error('no KEK');
    expect(() => open(c, old, 'ctx')).toThrow(/sealed with KEK "kek-[0-9a-f]{16}", but the configured KEKs are "kek-[0-9a-f]{16}" and "kek-[0-9a-f]{16}"/);
  });

  it('honours ACCORD_CA_KEK_ID and refuses inconsistent settings', () => {
    expect(kekFromEnv({ ACCORD_CA_KEK: a, ACCORD_CA_KEK_ID: 'vault-7' })?.id).toBe('vault-7');
    expect(() => kekFromEnv({ ACCORD_CA_KEK_PREVIOUS: a })).toThrow(KekError);
    expect(() => kekFromEnv({ ACCORD_CA_KEK: a, ACCORD_CA_KEK_PREVIOUS: a })).toThrow(/same id/);
    // The same key under a new id is a rotation too (the id is authenticated with the ciphertext).
    const relabelled = kekFromEnv({ ACCORD_CA_KEK: a, ACCORD_CA_KEK_ID: 'new', ACCORD_CA_KEK_PREVIOUS: a, ACCORD_CA_KEK_PREVIOUS_ID: 'old' });
    if (!relabelled) throw new Error('no KEK');
    expect(open(relabelled, seal(parseKek(a, 'old'), 's', 'k'), 'k')).toBe('s');
  });
});

describe('workload-token keys with ids', () => {
  const now = Date.UTC(2026, 0, 1);
  const claims = { workloadId: 'w-1', spiffeId: 'spiffe://mesh.local/ns/default/sa/w', ttlMs: 3_600_000, now };

  it('signs with the current key (kid), verifies the previous one until its end, then refuses it', async () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const before = await WorkloadTokens.hs256(oldKey).mint(claims);
    const rotated = WorkloadTokens.hs256(newKey, { key: oldKey, until: now + 60_000 });
    const after = await rotated.mint(claims);
    expect(JSON.parse(Buffer.from(after.split('.')[0] ?? '', 'base64url').toString()).kid).toBe(tokenKeyId(newKey));
    expect((await rotated.verify(before, now + 1_000)).workloadId).toBe('w-1');
    expect((await rotated.verify(after, now + 1_000)).workloadId).toBe('w-1');
    await expect(rotated.verify(before, now + 61_000)).rejects.toMatchObject({ code: 'BAD_SIGNATURE', message: 'token: signed with a retired key' });
    await expect(WorkloadTokens.hs256(randomBytes(32)).verify(after, now)).rejects.toMatchObject({ code: 'BAD_SIGNATURE', message: 'token: signed with an unknown key' });
  });

  it('verifies tokens minted before keys had ids (no kid) with every key in force', async () => {
    const oldKey = randomBytes(32);
    const legacy = await new SignJWT({ spiffe_id: claims.spiffeId })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer('accord')
      .setAudience('accord-workload')
      .setSubject('w-1')
      .setIssuedAt(now / 1000)
      .setExpirationTime(now / 1000 + 3600)
      .setJti('legacy-token-id-0001')
      .sign(oldKey);
    const rotated = WorkloadTokens.hs256(randomBytes(32), { key: oldKey, until: now + 60_000 });
    expect((await rotated.verify(legacy, now)).tokenId).toBe('legacy-token-id-0001');
    await expect(WorkloadTokens.hs256(randomBytes(32)).verify(legacy, now)).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
  });
});
