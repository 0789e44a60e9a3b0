import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { whenRegistered, call, crlOverSds, crlSerials, opensslCsr, register, startIn, tempDir, type Registered, type Running } from './support.js';

/**
 * Issue #9, items 12-14: what the CA accepts from callers. Weak or unexpected CSR keys are refused
 * with 400 naming the key type; a tampered CSR is a 400, not a 500; a serial must be hex.
 */
describe('CA input from callers', () => {
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  let workload: Registered;

  beforeAll(async () => {
    dir = await tempDir();
    accord = await startIn(dir.dir);
    workload = await register(accord.http, 'orders');
  });
  afterAll(async () => {
    await accord.close();
    await dir.remove();
  });

  const sign = (csr: string, token = workload.token) => whenRegistered(() => call(accord.http, 'POST', '/v1/agent/certificate', { body: { csr }, token }));

  it('signs CSRs with P-256, P-384 and RSA-2048 keys', async () => {
    for (const [name, newkey] of [
      ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
      ['p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']],
      ['rsa2048', ['-newkey', 'rsa:2048']],
    ] as const) {
      const answer = await sign(await opensslCsr(dir.dir, newkey, name));
      expect(answer.status, `${name}: ${answer.text}`).toBe(200);
    }
  });

  it('refuses RSA-1024, Ed25519 and P-521 keys with 400 naming the key type (item 12)', async () => {
    for (const [name, newkey, named] of [
      ['rsa1024', ['-newkey', 'rsa:1024'], /RSA.*1024/],
      ['ed25519', ['-newkey', 'ed25519'], /ed25519/i],
      ['p521', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521'], /P-521|secp521r1/],
    ] as const) {
      const answer = await sign(await opensslCsr(dir.dir, newkey, name));
      console.log(`CSR with ${name}: HTTP ${answer.status} ${answer.text.slice(0, 160)}`);
      expect(answer.status, name).toBe(400);
      const error = (answer.body as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toMatch(named);
    }
  });

  it('answers a tampered CSR with 400 and logs no stack trace (item 13)', async () => {
    const good = await opensslCsr(dir.dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'tamper');
    const body = good.split('\n').slice(1, -2).join('');
    const der = Buffer.from(body, 'base64');
    // Flip a byte inside the subject public key: the structure still parses, the signature no longer verifies.
    der[der.length - 80] = (der[der.length - 80] as number) ^ 0xff;
    const flipped = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    const garbage = '-----BEGIN CERTIFICATE REQUEST-----\nMIIBzzCCAXUCAQAw\n-----END CERTIFICATE REQUEST-----\n';
    for (const csr of [flipped, garbage]) {
      const before = accord.logs.length;
      const answer = await sign(csr);
      console.log(`tampered CSR: HTTP ${answer.status} ${answer.text.slice(0, 160)}`);
      expect(answer.status).toBe(400);
      expect((answer.body as { error: { code: string } }).error.code).toBe('INVALID_ARGUMENT');
      const logged = accord.logs.slice(before).join('\n');
      expect(logged).not.toContain('"stack"');
      expect(logged).not.toContain('"level":50');
    }
  });

  it('refuses a serial that is not hex, or too long, with 400 and adds nothing to the CRL (item 14)', async () => {
    for (const serial of ['zz', '', 'ab'.repeat(21), '12 34', '0x1f', '-1f']) {
      const answer = await call(accord.http, 'POST', '/v1/ca/revoke', { body: { serial } });
      console.log(`revoke serial ${JSON.stringify(serial)}: HTTP ${answer.status} ${answer.text.slice(0, 160)}`);
      expect(answer.status, serial).toBe(400);
      expect((answer.body as { error: { code: string; details: { field: string }[] } }).error.details[0]?.field).toBe('serial');
    }
    const crl = (await crlOverSds(accord.xds, workload)) ?? '';
    expect(await crlSerials(dir.dir, crl)).toEqual([]);

    const ok = await call(accord.http, 'POST', '/v1/ca/revoke', { body: { serial: '0A:1B:2C' } });
    expect(ok.status, ok.text).toBe(200);
    expect((ok.body as { revoked: string[] }).revoked).toEqual(['0a1b2c']);
  });
});
