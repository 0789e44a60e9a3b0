/** Every code an IssuanceError can carry (the API maps each one; a test walks this list). */
export const ISSUANCE_ERROR_CODES = [
  /** The SPIFFE ID or its certificate was revoked; nothing new is issued to it. */
  'REVOKED',
  /** The SPIFFE ID is malformed or belongs to another trust domain. */
  'INVALID_SPIFFE_ID',
  /** A requested DNS name or IP address SAN is malformed. */
  'INVALID_SAN',
  /** The CSR does not parse or its signature does not verify. */
  'INVALID_CSR',
  /** The CSR's key is of a type or size the CA does not sign (only P-256, P-384, RSA >= 2048). */
  'UNSUPPORTED_KEY',
  /** The TTL is not a positive number of milliseconds, or exceeds the longest leaf the CA issues. */
  'INVALID_TTL',
  /** A serial number is not hex, or longer than the 20 octets RFC 5280 allows. */
  'INVALID_SERIAL',
  /** The issuing CA has expired (or would give a leaf no validity at all). */
  'ISSUER_EXPIRED',
] as const;

export type IssuanceErrorCode = (typeof ISSUANCE_ERROR_CODES)[number];

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

  /** The field in the shape the API's error details use. */
  get details(): readonly { field: string; message: string }[] {
    return [{ field: this.field, message: this.message.slice(this.field.length + 2) }];
  }
}
