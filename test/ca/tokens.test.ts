import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { TokenError, WorkloadTokens } from '../../src/ca/tokens.js';

const now = Date.UTC(2026, 10, 23, 12, 0, 0);
const request = { workloadId: 'orders-7f9c', spiffeId: 'spiffe://mesh.test/ns/default/sa/orders', ttlMs: 3600_000, now };

async function expectTokenError(promise: Promise<unknown>, code: string): Promise<void> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(TokenError);
  expect((err as TokenError).code).toBe(code);
}

describe('workload tokens', () => {
  for (const [name, make] of [
    ['HS256', () => WorkloadTokens.hs256(crypto.randomBytes(32).toString('base64'))],
    ['EdDSA', () => WorkloadTokens.generateEddsa()],
  ] as const) {
    describe(name, () => {
      it('round-trips the claims', async () => {
        const tokens = make();
        const token = await tokens.mint(request);
        const claims = await tokens.verify(token, now + 1000);
        expect(claims).toEqual({
          workloadId: 'orders-7f9c',
          spiffeId: request.spiffeId,
          expiresAt: now + 3600_000,
          issuedAt: now,
          tokenId: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
        });
      });

      it('refuses an expired token', async () => {
        const tokens = make();
        const token = await tokens.mint(request);
        await expectTokenError(tokens.verify(token, now + 3600_000 + 1000), 'EXPIRED');
      });

      it('refuses a tampered payload and a token from another key', async () => {
        const tokens = make();
        const token = await tokens.mint(request);
        const [header, payload, signature] = token.split('.');
        const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
        claims.sub = 'payments-1';
        const forged = [header, Buffer.from(JSON.stringify(claims)).toString('base64url'), signature].join('.');
        await expectTokenError(tokens.verify(forged, now), 'BAD_SIGNATURE');
        const flipped = signature.startsWith('A') ? 'B' + signature.slice(1) : 'A' + signature.slice(1);
        await expectTokenError(tokens.verify([header, payload, flipped].join('.'), now), 'BAD_SIGNATURE');
        await expectTokenError(make().verify(token, now), 'BAD_SIGNATURE');
      });

      it('refuses malformed tokens without echoing them', async () => {
        const tokens = make();
        for (const bad of ['', 'abc', 'a.b.c', 'secret-looking-token-value']) {
          const err = await tokens.verify(bad, now).then(() => undefined, (e: unknown) => e);
          expect(err).toBeInstanceOf(TokenError);
          expect((err as TokenError).code).toBe('MALFORMED');
          if (bad) expect((err as TokenError).message).not.toContain(bad);
        }
      });
    });
  }

  it('refuses a token signed with alg none or a different algorithm', async () => {
    const tokens = WorkloadTokens.hs256(crypto.randomBytes(32));
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const payload = Buffer.from(JSON.stringify({ sub: 'x', spiffe_id: request.spiffeId, exp: now / 1000 + 60, iat: now / 1000, iss: 'accord', aud: 'accord-workload' })).toString('base64url');
    const err = await tokens.verify(`${header}.${payload}.`, now).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(TokenError);
    const eddsaToken = await WorkloadTokens.generateEddsa().mint(request);
    const err2 = await tokens.verify(eddsaToken, now).then(() => undefined, (e: unknown) => e);
    expect(err2).toBeInstanceOf(TokenError);
  });

  it('a verify-only EdDSA instance cannot mint', async () => {
    const { publicKey } = crypto.generateKeyPairSync('ed25519');
    await expect(WorkloadTokens.eddsa(publicKey).mint(request)).rejects.toBeInstanceOf(TokenError);
  });

  it('rejects an HS256 key that is not 32 bytes', () => {
    expect(() => WorkloadTokens.hs256(crypto.randomBytes(16))).toThrow(/tokenKey/);
  });
});
