import crypto, { type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';

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

type TokenKeys =
  | { readonly alg: 'HS256'; readonly signKey: Uint8Array; readonly verifyKey: Uint8Array }
  | { readonly alg: 'EdDSA'; readonly signKey: KeyObject; readonly verifyKey: KeyObject };

/**
 * Mints and verifies workload tokens (JWT). HS256 with the 32-byte key kept in the CA material,
 * so every replica verifies every other's tokens; or EdDSA (Ed25519) when verifiers must not mint.
 */
export class WorkloadTokens {
  private constructor(private readonly keys: TokenKeys) {}

  /** `key`: the 32-byte secret, raw or base64 (as `CaMaterial.tokenKey`). */
  static hs256(key: Uint8Array | string): WorkloadTokens {
    const bytes = typeof key === 'string' ? Buffer.from(key, 'base64') : key;
    if (bytes.length !== 32) throw new TokenError('MALFORMED', `tokenKey: expected 32 bytes, got ${bytes.length}`);
    return new WorkloadTokens({ alg: 'HS256', signKey: bytes, verifyKey: bytes });
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
    const exp = Math.floor((request.now + request.ttlMs) / 1000);
    const tokenId = crypto.randomBytes(16).toString('base64url');
    const token = await new SignJWT({ [SPIFFE_CLAIM]: request.spiffeId })
      .setProtectedHeader({ alg: this.keys.alg, typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setSubject(request.workloadId)
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .setJti(tokenId)
      .sign(this.keys.signKey);
    return { token, tokenId, expiresAt: exp * 1000 };
  }

  /** The claims, or throws TokenError (EXPIRED, BAD_SIGNATURE, MALFORMED). */
  async verify(token: string, now: number): Promise<WorkloadClaims> {
    try {
      const { payload } = await jwtVerify(token, this.keys.verifyKey, {
        algorithms: [this.keys.alg],
        issuer: ISSUER,
        audience: AUDIENCE,
        currentDate: new Date(now),
        // Every token names its id, so the deny-list can name every token.
        requiredClaims: ['sub', 'exp', 'iat', 'jti', SPIFFE_CLAIM],
      });
      const spiffeId = payload[SPIFFE_CLAIM];
      if (typeof spiffeId !== 'string' || typeof payload.sub !== 'string' || typeof payload.exp !== 'number' || typeof payload.jti !== 'string') {
        throw new TokenError('MALFORMED', 'token: claims have the wrong types');
      }
      return { workloadId: payload.sub, spiffeId, expiresAt: payload.exp * 1000, issuedAt: (payload.iat ?? 0) * 1000, tokenId: payload.jti };
    } catch (err) {
      throw toTokenError(err);
    }
  }
}

function toTokenError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof joseErrors.JWTExpired) return new TokenError('EXPIRED', 'token: expired');
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenError('BAD_SIGNATURE', 'token: signature does not verify');
  // Never echo the token itself into the message.
  const reason = err instanceof joseErrors.JOSEError ? err.code : 'unreadable';
  return new TokenError('MALFORMED', `token: malformed (${reason})`);
}
