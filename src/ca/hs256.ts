import crypto from 'node:crypto';

/**
 * Synchronous verification of compact HS256 JWTs (RFC 7515/7519), for the one check every xDS
 * stream makes when it opens. jose verifies through WebCrypto, an asynchronous job of about a
 * quarter of a millisecond per token: seconds of a reconnecting fleet's start. This accepts what
 * jose's jwtVerify accepts for our options, and no more: test/ca/hs256.test.ts compares the two
 * on valid, expired, forged and malformed tokens.
 */

/** Why a token failed, named as jose names it (so callers map both alike). */
export class Hs256Failure extends Error {
  constructor(
    readonly code: 'ERR_JWS_INVALID' | 'ERR_JWT_INVALID' | 'ERR_JOSE_ALG_NOT_ALLOWED' | 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' | 'ERR_JWT_EXPIRED' | 'ERR_JWT_CLAIM_VALIDATION_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'Hs256Failure';
  }
}

export interface Hs256Expectations {
  readonly issuer: string;
  readonly audience: string;
  /** Claims that must be present. */
  readonly requiredClaims: readonly string[];
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Unpadded base64url that decodes (a length of 4k + 1 characters cannot). */
function isBase64url(text: string): boolean {
  return text.length % 4 !== 1 && BASE64URL.test(text);
}

/** A compact JWS split in three, its protected header decoded and checked (HS256, no `crit`). */
export interface Hs256Token {
  readonly headerPart: string;
  readonly payloadPart: string;
  readonly signaturePart: string;
  readonly header: Readonly<Record<string, unknown>>;
}

/**
 * Splits tokens and checks their headers, decoding each distinct header text once: every token
 * signed with one key has the same header, so a fleet reconnecting decodes it once, not once per
 * stream (twice, with jose's `decodeProtectedHeader` for the key id).
 */
export class Hs256Parser {
  private last: { readonly part: string; readonly header: Readonly<Record<string, unknown>> } | undefined;

  parse(token: string): Hs256Token {
    const parts = token.split('.');
    if (parts.length !== 3) throw new Hs256Failure('ERR_JWS_INVALID', 'Invalid Compact JWS');
    const [headerPart, payloadPart, signaturePart] = parts as [string, string, string];
    let header = this.last?.part === headerPart ? this.last.header : undefined;
    if (header === undefined) {
      header = checkedHeader(headerPart);
      this.last = { part: headerPart, header };
    }
    return { headerPart, payloadPart, signaturePart, header };
  }
}

function checkedHeader(headerPart: string): Readonly<Record<string, unknown>> {
  const header = decodeJsonPart(headerPart, 'ERR_JWS_INVALID', 'Invalid JWS Protected Header');
  // Extensions this verifier does not implement (b64, ...) must make it refuse, never ignore.
  if (header.crit !== undefined) throw new Hs256Failure('ERR_JWS_INVALID', 'unsupported "crit" header parameter');
  if (typeof header.alg !== 'string') throw new Hs256Failure('ERR_JWS_INVALID', 'JWS "alg" (Algorithm) Header Parameter missing or invalid');
  if (header.alg !== 'HS256') throw new Hs256Failure('ERR_JOSE_ALG_NOT_ALLOWED', '"alg" (Algorithm) Header Parameter value not allowed');
  return Object.freeze(header);
}

/** The claims of a token (split by Hs256Parser) signed with `key`, checked against `expected` at `nowMs`; throws Hs256Failure. */
export function verifyHs256(token: Hs256Token, key: Uint8Array, nowMs: number, expected: Hs256Expectations): Record<string, unknown> {
  const { headerPart, payloadPart, signaturePart } = token;
  if (!isBase64url(signaturePart)) throw new Hs256Failure('ERR_JWS_INVALID', 'Failed to base64url decode the signature');
  const signature = Buffer.from(signaturePart, 'base64url');
  // Only the canonical spelling of the 32 bytes: no second token string for one signature.
  const expectedSignature = crypto.createHmac('sha256', key).update(`${headerPart}.${payloadPart}`).digest();
  if (signature.length !== expectedSignature.length || signature.toString('base64url') !== signaturePart || !crypto.timingSafeEqual(signature, expectedSignature)) {
    throw new Hs256Failure('ERR_JWS_SIGNATURE_VERIFICATION_FAILED', 'signature verification failed');
  }
  if (!isBase64url(payloadPart)) throw new Hs256Failure('ERR_JWS_INVALID', 'Failed to base64url decode the payload');
  const payload = decodeJsonPart(payloadPart, 'ERR_JWT_INVALID', 'JWT Claims Set must be a top-level JSON object');
  checkClaims(payload, Math.floor(nowMs / 1000), expected);
  return payload;
}

function decodeJsonPart(part: string, code: 'ERR_JWS_INVALID' | 'ERR_JWT_INVALID', message: string): Record<string, unknown> {
  if (!isBase64url(part)) throw new Hs256Failure(code, message);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    throw new Hs256Failure(code, message);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Hs256Failure(code, message);
  return value as Record<string, unknown>;
}

function checkClaims(payload: Record<string, unknown>, now: number, expected: Hs256Expectations): void {
  const failed = (message: string): never => {
    throw new Hs256Failure('ERR_JWT_CLAIM_VALIDATION_FAILED', message);
  };
  for (const claim of ['iss', 'aud', ...expected.requiredClaims]) if (!(claim in payload)) failed(`missing required "${claim}" claim`);
  if (payload.iss !== expected.issuer) failed('unexpected "iss" claim value');
  const audience = payload.aud;
  if (!(audience === expected.audience || (Array.isArray(audience) && audience.includes(expected.audience)))) failed('unexpected "aud" claim value');
  for (const claim of ['iat', 'nbf', 'exp'] as const) {
    if (payload[claim] !== undefined && typeof payload[claim] !== 'number') failed(`"${claim}" claim must be a number`);
  }
  if (typeof payload.nbf === 'number' && payload.nbf > now) failed('"nbf" claim timestamp check failed');
  if (typeof payload.exp === 'number' && payload.exp <= now) throw new Hs256Failure('ERR_JWT_EXPIRED', '"exp" claim timestamp check failed');
}
