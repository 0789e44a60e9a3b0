/**
 * What an application service refuses, in words the caller can act on. Services (registry,
 * policies, bootstrap, the CA's operations) throw this; the HTTP and gRPC edges map its code to a
 * status in one table (`api/errors.ts`), so no service knows which protocol asked.
 */
export const SERVICE_ERROR_CODES = [
  'INVALID_ARGUMENT',
  'UNAUTHENTICATED',
  'PERMISSION_DENIED',
  'NOT_FOUND',
  'CONFLICT',
  'PAYLOAD_TOO_LARGE',
  'UNSUPPORTED_MEDIA_TYPE',
  'RESOURCE_EXHAUSTED',
  'UNAVAILABLE',
  'INTERNAL',
] as const;

export type ServiceErrorCode = (typeof SERVICE_ERROR_CODES)[number];

export class ServiceError extends Error {
  constructor(
    readonly code: ServiceErrorCode,
    message: string,
    readonly details: readonly unknown[] = [],
    /** For RESOURCE_EXHAUSTED: when the caller may try again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'ServiceError';
  }
}
