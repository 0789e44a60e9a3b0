import { OperatorTokens } from './operator-tokens.js';

/** Why a caller was not let in as the operator; UNAUTHENTICATED without a token, PERMISSION_DENIED with another one. */
export interface OperatorRefusal {
  readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  readonly reason: string;
}

/**
 * The operator token check for gRPC callers (`authorization: Bearer <token>` metadata), against
 * every accepted token (OperatorTokens compares digests in constant time).
 */
export class OperatorTokenCheck {
  private readonly accepted: OperatorTokens;

  constructor(token: string | OperatorTokens) {
    this.accepted = typeof token === 'string' ? new OperatorTokens([token]) : token;
  }

  /** `authorization` metadata values as grpc-js gives them; undefined means the operator. */
  check(authorization: readonly (string | Buffer)[]): OperatorRefusal | undefined {
    const header = authorization[0];
    const token = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] : undefined;
    if (!token) return { code: 'UNAUTHENTICATED', reason: 'missing operator token in "authorization: Bearer" metadata' };
    if (!this.accepted.accepts(token)) return { code: 'PERMISSION_DENIED', reason: 'operator token not accepted' };
    return undefined;
  }
}
