export type IssuanceErrorCode =
  /** The SPIFFE ID or its certificate was revoked; nothing new is issued to it. */
  | 'REVOKED'
  /** The SPIFFE ID is malformed or belongs to another trust domain. */
  | 'INVALID_SPIFFE_ID'
  /** A requested DNS name or IP address SAN is malformed. */
  | 'INVALID_SAN'
  /** The CSR does not parse or its signature does not verify. */
  | 'INVALID_CSR'
  /** The TTL is not a positive number of milliseconds. */
  | 'INVALID_TTL'
  /** The issuing CA has expired (or would give a leaf no validity at all). */
  | 'ISSUER_EXPIRED';

/** Why the CA refused to issue. `field` names the request field at fault. */
export class IssuanceError extends Error {
  constructor(
    readonly code: IssuanceErrorCode,
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'IssuanceError';
  }
}
