import crypto, { type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { Hs256Failure, Hs256Parser, verifyHs256, type Hs256Token } from './hs256.js';

/** What a workload token says: which workload, which SPIFFE ID, until when. */
export interface WorkloadClaims {
  /** The workload id (`sub`); also Envoy's `node.id`. */
  readonly workloadId: string;
  readonly spiffeId: string;
  /** Expiry, ms since the epoch (whole seconds). */
  readonly expiresAt: number;
  readonly issuedAt: number;
  /** The token's id (`jti`): what the deny-list names. */
  readonly tokenId: string;
}

/** A freshly minted token and what a caller may need to know about it. */
export interface MintedToken {
  readonly token: string;
  readonly tokenId: string;
  readonly expiresAt: number;
}

/** Every code a TokenError can carry (the API maps each one; a test walks this list). */
export const TOKEN_ERROR_CODES = ['EXPIRED', 'BAD_SIGNATURE', 'MALFORMED', 'DENIED'] as const;
export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[number];

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

const ISSUER = 'accord';
const AUDIENCE = 'accord-workload';
const SPIFFE_CLAIM = 'spiffe_id';
// Every token names its id, so the deny-list can name every token.
const REQUIRED_CLAIMS: readonly string[] = ['sub', 'exp', 'iat', 'jti', SPIFFE_CLAIM];

const EXPECTED = { issuer: ISSUER, audience: AUDIENCE, requiredClaims: REQUIRED_CLAIMS };

/** One HS256 signing key; `until`: it verifies tokens only before then (a rotated-out key). */
interface HsKey {
  readonly kid: string;
  readonly key: Uint8Array;
  readonly until?: number;
}

type TokenKeys =
  | { readonly alg: 'HS256'; readonly signKey: HsKey; readonly verifyKeys: readonly HsKey[] }
  | { readonly alg: 'EdDSA'; readonly signKey: KeyObject; readonly verifyKey: KeyObject };

/** The key's id (JWT `kid`): a fingerprint, so every replica holding the key names it alike. */
export function tokenKeyId(key: Uint8Array | string): string {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
  return 'tk-' + crypto.createHash('sha256').update('accord-token-key-id').update(bytes).digest('hex').slice(0, 16);
}

function hsKey(key: Uint8Array | string, field: string, until?: number): HsKey {
  const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
  if (bytes.length !== 32) throw new TokenError('MALFORMED', `${field}: expected 32 bytes, got ${bytes.length}`);
  return { kid: tokenKeyId(bytes), key: bytes, until };
}

/**
 * Mints and verifies workload tokens (JWT). HS256 with the 32-byte key kept in the CA material,
 * so every replica verifies every other's tokens; or EdDSA (Ed25519) when verifiers must not mint.
 */
export class WorkloadTokens {
  private readonly hs256Parser = new Hs256Parser();

  private constructor(private readonly keys: TokenKeys) {}

  /**
   * `key`: the 32-byte secret, raw or base64 (as `CaMaterial.tokenKey`); it signs. `previous`: the
   * key it replaced, which still verifies the tokens it signed until `until` (ms since the epoch).
   */
  static hs256(key: Uint8Array | string, previous?: { readonly key: Uint8Array | string; readonly until: number }): WorkloadTokens {
    const current = hsKey(key, 'tokenKey');
    const verifyKeys = previous ? [current, hsKey(previous.key, 'previousTokenKey', previous.until)] : [current];
    return new WorkloadTokens({ alg: 'HS256', signKey: current, verifyKeys });
  }

  /** The id of the key new tokens are signed with (HS256 only). */
  get signingKeyId(): string | undefined {
    return this.keys.alg === 'HS256' ? this.keys.signKey.kid : undefined;
  }

  /** `privateKey` may be omitted for a verify-only instance (mint then throws). */
  static eddsa(publicKey: KeyObject, privateKey?: KeyObject): WorkloadTokens {
    if (publicKey.asymmetricKeyType !== 'ed25519') throw new TokenError('MALFORMED', 'publicKey: expected an Ed25519 key');
    const signKey = privateKey ?? publicKey;
    return new WorkloadTokens({ alg: 'EdDSA', signKey, verifyKey: publicKey });
  }

  static generateEddsa(): WorkloadTokens {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    return WorkloadTokens.eddsa(publicKey, privateKey);
  }

  async mint(request: { workloadId: string; spiffeId: string; ttlMs: number; now: number }): Promise<string> {
    return (await this.mintWithId(request)).token;
  }

  /** Like `mint`, also returning the token id (`jti`, 128 random bits) and the expiry. */
  async mintWithId(request: { workloadId: string; spiffeId: string; ttlMs: number; now: number }): Promise<MintedToken> {
    if (!request.workloadId) throw new TokenError('MALFORMED', 'workloadId: must not be empty');
    if (!request.spiffeId.startsWith('spiffe://')) throw new TokenError('MALFORMED', 'spiffeId: must be a spiffe:// URI');
    if (!(request.ttlMs > 0)) throw new TokenError('MALFORMED', 'ttlMs: must be positive');
    if (this.keys.alg === 'EdDSA' && this.keys.signKey.type !== 'private') {
      throw new TokenError('MALFORMED', 'privateKey: this instance only verifies');
    }
    const iat = Math.floor(request.now / 1000);
    const signKey = this.keys.alg === 'HS256' ? this.keys.signKey.key : this.keys.signKey;
    const exp = Math.floor((request.now + request.ttlMs) / 1000);
    const tokenId = crypto.randomBytes(16).toString('base64url');
    const header = this.keys.alg === 'HS256' ? { alg: 'HS256', typ: 'JWT', kid: this.keys.signKey.kid } : { alg: this.keys.alg, typ: 'JWT' };
    const token = await new SignJWT({ [SPIFFE_CLAIM]: request.spiffeId })
      .setProtectedHeader(header)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(request.workloadId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(tokenId)
      .sign(signKey);
    return { token, tokenId, expiresAt: exp * 1000 };
  }

  /**
   * The claims, or throws TokenError (EXPIRED, BAD_SIGNATURE, MALFORMED). HS256 tokens name their
   * key (`kid`); tokens from before keys had ids name none and are tried with every valid key.
   */
  async verify(token: string, now: number): Promise<WorkloadClaims> {
    if (this.keys.alg === 'EdDSA') return this.verifyWith(token, now, this.keys.verifyKey);
    let parsed: Hs256Token;
    try {
      parsed = this.hs256Parser.parse(token);
    } catch (err) {
      throw toTokenError(err);
    }
    const kid = parsed.header.kid;
    const valid = this.keys.verifyKeys.filter((key) => key.until === undefined || now < key.until);
    const candidates = kid === undefined ? valid : valid.filter((key) => key.kid === kid);
    if (candidates.length === 0) {
      const retired = this.keys.verifyKeys.some((key) => key.kid === kid);
      throw new TokenError('BAD_SIGNATURE', retired ? 'token: signed with a retired key' : 'token: signed with an unknown key');
    }
    let failure: unknown;
    for (const key of candidates) {
      try {
        return this.verifyHs256(parsed, now, key);
      } catch (err) {
        failure = err;
        if (!(err instanceof TokenError) || err.code !== 'BAD_SIGNATURE') throw err;
      }
    }
    throw failure;
  }

  private verifyHs256(token: Hs256Token, now: number, key: HsKey): WorkloadClaims {
    try {
      return claimsOf(verifyHs256(token, key.key, now, EXPECTED));
    } catch (err) {
      throw toTokenError(err);
    }
  }

  private async verifyWith(token: string, now: number, verifyKey: KeyObject): Promise<WorkloadClaims> {
    try {
      const { payload } = await jwtVerify(token, verifyKey, {
        algorithms: [this.keys.alg],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(now),
        requiredClaims: [...REQUIRED_CLAIMS],
      });
      return claimsOf(payload);
    } catch (err) {
      throw toTokenError(err);
    }
  }
}

function claimsOf(payload: Record<string, unknown>): WorkloadClaims {
  const spiffeId = payload[SPIFFE_CLAIM];
  if (typeof spiffeId !== 'string' || typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.jti !== 'string') {
    throw new TokenError('MALFORMED', 'token: claims have the wrong types');
  }
  const issuedAt = typeof payload.iat === 'number' ? payload.iat : 0;
  return { workloadId: payload.sub, spiffeId, expiresAt: payload.exp * 1000, issuedAt: issuedAt * 1000, tokenId: payload.jti };
}

function toTokenError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof Hs256Failure) {
    if (err.code === 'ERR_JWT_EXPIRED') return new TokenError('EXPIRED', 'token: expired');
    if (err.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return new TokenError('BAD_SIGNATURE', 'token: signature does not verify');
    return new TokenError('MALFORMED', `token: malformed (${err.code})`);
  }
  if (err instanceof joseErrors.JWTExpired) return new TokenError('EXPIRED', 'token: expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenError('BAD_SIGNATURE', 'token: signature does not verify');
  // Never echo the token itself into the message.
  const reason = err instanceof joseErrors.JOSEError ? err.code : 'unreadable';
  return new TokenError('MALFORMED', `token: malformed (${reason})`);
}
