import crypto from 'node:crypto';
import { SignJWT, jwtVerify, errors } from 'jose';
import { describe, expect, it } from 'vitest';
import { Hs256Failure, Hs256Parser, verifyHs256 } from '../../src/ca/hs256.js';

const key = crypto.randomBytes(32);
const otherKey = crypto.randomBytes(32);
const now = Date.UTC(2026, 11, 3, 12, 0, 0);
const nowS = now / 1000;
const expected = { issuer: 'accord', audience: 'accord-workload', requiredClaims: ['sub', 'exp', 'iat', 'jti', 'spiffe_id'] };
const good = { iss: 'accord', aud: 'accord-workload', sub: 'w-1', exp: nowS + 60, iat: nowS - 1, jti: 'id-1', spiffe_id: 'spiffe://t/ns/default/sa/w' };

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const hmac = (input: string, with_: Uint8Array = key): string => crypto.createHmac('sha256', with_).update(input).digest('base64url');
function compact(header: unknown, payload: unknown, signWith: Uint8Array = key): string {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${hmac(input, signWith)}`;
}

/** jose's verdict: the claims, or its error code. */
async function jose(token: string): Promise<string> {
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], issuer: expected.issuer, audience: expected.audience, currentDate: new Date(now), requiredClaims: [...expected.requiredClaims] });
    return JSON.stringify(payload);
  } catch (error) {
    return error instanceof errors.JOSEError ? error.code : `unexpected ${String(error)}`;
  }
}

/** Our verdict; a fresh parser unless one is given (which may remember an earlier header). */
function ours(token: string, parser = new Hs256Parser()): string {
  try {
    return JSON.stringify(verifyHs256(parser.parse(token), key, now, expected));
  } catch (error) {
    return error instanceof Hs256Failure ? error.code : `unexpected ${String(error)}`;
  }
}

describe('HS256 verification (agrees with jose)', () => {
  const header = { alg: 'HS256', typ: 'JWT', kid: 'tk-1' };
  const cases: [string, () => string | Promise<string>][] = [
    ['a token minted by jose', () => new SignJWT({ spiffe_id: good.spiffe_id }).setProtectedHeader(header).setIssuer('accord').setAudience('accord-workload').setSubject('w-1').setIssuedAt(nowS - 1).setExpirationTime(nowS + 60).setJti('id-1').sign(key)],
    ['valid, audience in an array', () => compact(header, { ...good, aud: ['x', 'accord-workload'] })],
    ['expired (exp = now)', () => compact(header, { ...good, exp: nowS })],
    ['not yet valid (nbf in the future)', () => compact(header, { ...good, nbf: nowS + 10 })],
    ['nbf now', () => compact(header, { ...good, nbf: nowS })],
    ['another key', () => compact(header, good, otherKey)],
    ['wrong issuer', () => compact(header, { ...good, iss: 'someone' })],
    ['wrong audience', () => compact(header, { ...good, aud: 'other' })],
    ['audience array without ours', () => compact(header, { ...good, aud: ['other'] })],
    ['missing jti', () => compact(header, { ...good, jti: undefined })],
    ['missing iss', () => compact(header, { ...good, iss: undefined })],
    ['missing spiffe_id', () => compact(header, { ...good, spiffe_id: undefined })],
    ['exp as a string', () => compact(header, { ...good, exp: String(nowS + 60) })],
    ['iat as a string', () => compact(header, { ...good, iat: 'yesterday' })],
    ['alg none', () => `${b64({ alg: 'none' })}.${b64(good)}.`],
    ['alg HS512', () => compact({ alg: 'HS512' }, good)],
    ['no alg', () => compact({ typ: 'JWT' }, good)],
    ['payload an array', () => compact(header, [good])],
    ['payload not JSON', () => { const input = `${b64(header)}.${b64('not json')}`; return `${input}.${hmac(input)}`; }],
    ['header not JSON', () => { const input = `${b64('{')}.${b64(good)}`; return `${input}.${hmac(input)}`; }],
    ['two parts', () => `${b64(header)}.${b64(good)}`],
    ['four parts', () => `${compact(header, good)}.x`],
    ['empty', () => ''],
    ['signature truncated', () => compact(header, good).slice(0, -2)],
    ['signature one character short', () => compact(header, good).slice(0, -1)],
    ['payload of 4k + 1 characters', () => { let payload = b64(good); while (payload.length % 4 !== 1) payload += 'A'; const input = `${b64(header)}.${payload}`; return `${input}.${hmac(input)}`; }],
    ['signature with a character outside base64url', () => `${compact(header, good).slice(0, -1)}*`],
  ];
  for (const [name, make] of cases) {
    it(name, async () => {
      const token = await make();
      expect(ours(token)).toBe(await jose(token));
    });
  }

  it('gives the same verdicts through one parser that remembers the last header it decoded', async () => {
    const parser = new Hs256Parser();
    const valid = compact(header, good);
    for (const [, make] of cases) {
      const token = await make();
      // The valid token's header is remembered first; each case must still be judged on its own header.
      expect(ours(valid, parser)).toMatch(/^\{/);
      expect(ours(token, parser)).toBe(await jose(token));
      expect(ours(token, parser)).toBe(await jose(token));
    }
    const first = parser.parse(valid).header;
    expect(parser.parse(compact(header, { ...good, jti: 'id-2' })).header).toBe(first);
    expect(Object.isFrozen(first)).toBe(true);
  });

  it('is stricter than jose where the JWS extensions are concerned: any "crit" is refused', async () => {
    const token = compact({ ...header, crit: ['exp'] }, good);
    expect(ours(token)).toBe('ERR_JWS_INVALID');
    expect(await jose(token)).not.toMatch(/^\{/);
  });

  it('accepts only the canonical spelling of a signature', () => {
    const token = compact(header, good);
    const signature = token.slice(token.lastIndexOf('.') + 1);
    // 43 characters carry 258 bits: the last character's two low bits are padding, so a variant decodes to the same bytes.
    const last = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const index = last.indexOf(signature.at(-1)!);
    const variant = `${token.slice(0, -1)}${last[index ^ 1]}`;
    expect(Buffer.from(variant.slice(variant.lastIndexOf('.') + 1), 'base64url')).toEqual(Buffer.from(signature, 'base64url'));
    expect(ours(token)).toMatch(/^\{/);
    expect(ours(variant)).toBe('ERR_JWS_SIGNATURE_VERIFICATION_FAILED');
  });
});
