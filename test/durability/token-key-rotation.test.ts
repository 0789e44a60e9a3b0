import { decodeProtectedHeader } from 'jose';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli/run-cli.js';
import { call, OPERATOR, register, twoRedisReplicas, whenRegistered, type Running } from '../security/support.js';

/** Issue #15: the workload-token signing key rotates by command; old tokens keep working until retired or expired. */
describe('workload-token key rotation across two replicas (real Redis)', () => {
  const replicas = twoRedisReplicas('tkey');

  const kid = (token: string): unknown => decodeProtectedHeader(token).kid;
  const bundle = async (replica: Running, token: string): Promise<number> => (await call(replica.http, 'GET', '/v1/agent/bundle', { token })).status;
  const until = async (check: () => Promise<boolean>, what: string): Promise<number> => {
    const started = Date.now();
    while (!(await check())) {
      if (Date.now() - started > 20_000) throw new Error(`not within 20 s: ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Date.now() - started;
  };

  it('tokens from before and after a rotation authenticate on both replicas; retiring ends the old ones', async () => {
    const before = await register(replicas.a.http, 'orders');
    await whenRegistered(() => call(replicas.b.http, 'GET', '/v1/agent/bundle', { token: before.token }));
    const oldKid = kid(before.token);
    expect(typeof oldKid).toBe('string');

    expect((await call(replicas.a.http, 'POST', '/v1/ca/token-key/rotate', { token: null })).status).toBe(401);
    expect((await call(replicas.a.http, 'POST', '/v1/ca/token-key/rotate', { token: 'wrong' })).status).toBe(403);
    const rotated = await call(replicas.a.http, 'POST', '/v1/ca/token-key/rotate', { body: {} });
    expect(rotated.status).toBe(200);
    const status = rotated.body as { signingKeyId: string; previousKeyId: string; previousValidUntil: string };
    expect(status.previousKeyId).toBe(oldKid);
    expect(status.signingKeyId).not.toBe(oldKid);

    // Signed on A with the new key, verified on B at once (B reads the stored keys on an unknown kid).
    const after = await register(replicas.a.http, 'payments');
    expect(kid(after.token)).toBe(status.signingKeyId);
    await whenRegistered(() => call(replicas.b.http, 'GET', '/v1/agent/bundle', { token: after.token }));
    expect(await bundle(replicas.b, after.token)).toBe(200);
    // B signs with the new key too, within its refresh interval.
    const adopted = await until(async () => {
      const renewed = await call(replicas.b.http, 'POST', '/v1/agent/token', { token: before.token, body: {} });
      return renewed.status === 200 && kid((renewed.body as { token: string }).token) === status.signingKeyId;
    }, 'B mints with the new key');
    // The old token still works everywhere.
    expect(await bundle(replicas.a, before.token)).toBe(200);
    expect(await bundle(replicas.b, before.token)).toBe(200);

    // Two keys at most: a second rotation while the previous key is in force is refused.
    const again = await call(replicas.b.http, 'POST', '/v1/ca/token-key/rotate', { body: {} });
    expect(again.status).toBe(409);
    expect(again.text).toContain('retire it first');

    // The real CLI, against B.
    const retired = await runCli(['ca', 'retire-token-key', '--server', replicas.b.http], { ACCORD_API_TOKEN: OPERATOR });
    expect(retired.stderr).toBe('');
    expect(retired.code).toBe(0);
    expect(retired.stdout).toContain(`workload tokens are signed with key ${status.signingKeyId}`);
    expect(retired.stdout).toContain('no previous key is in force');
    expect(await bundle(replicas.b, before.token)).toBe(401);
    const refusedOnA = await until(async () => (await bundle(replicas.a, before.token)) === 401, 'A refuses the old token');
    expect(await bundle(replicas.a, after.token)).toBe(200);
    expect(await bundle(replicas.b, after.token)).toBe(200);
    console.log(`token-key rotation: old kid ${String(oldKid)} → ${status.signingKeyId}; B minting with it after ${adopted} ms; old token refused on A ${refusedOnA} ms after retire`);
  }, 90_000);
});
