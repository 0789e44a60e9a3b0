import { createHash, timingSafeEqual } from 'node:crypto';

/** Why a caller was not let in as the operator; UNAUTHENTICATED without a token, PERMISSION_DENIED with another one. */
export interface OperatorRefusal {
  readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  readonly reason: string;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The operator token check for gRPC callers (`authorization: Bearer <token>` metadata): compared
 * as SHA-256 digests in constant time, so neither the token's length nor its prefix leaks.
 */
export class OperatorTokenCheck {
  private readonly expected: Buffer;

  constructor(token: string) {
    this.expected = digest(token);
  }

  /** `authorization` metadata values as grpc-js gives them; undefined means the operator. */
  check(authorization: readonly (string | Buffer)[]): OperatorRefusal | undefined {
    const header = authorization[0];
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (!token) return { code: 'UNAUTHENTICATED', reason: 'missing operator token in "authorization: Bearer" metadata' };
    if (!timingSafeEqual(digest(token), this.expected)) return { code: 'PERMISSION_DENIED', reason: 'operator token not accepted' };
    return undefined;
  }
}
