/**
 * The API's error catalog: stable codes, and the one table that maps them to HTTP statuses and gRPC
 * codes at both edges. Domain modules throw their own typed errors carrying a `code`;
 * `toApiError` translates them once, here. A domain error never becomes a 500.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { IssuanceErrorCode } from '../ca/errors.js';
import { SERVICE_ERROR_CODES, ServiceError, type ServiceErrorCode } from '../core/errors.js';
import type { TokenErrorCode } from '../ca/tokens.js';
import type { RegistryErrorCode } from '../registry/errors.js';

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export const API_ERROR_CODES = SERVICE_ERROR_CODES;

export type ApiErrorCode = ServiceErrorCode;

/** The one table: each API code's HTTP status and gRPC status. */
export const EDGE_STATUS: Readonly<Record<ApiErrorCode, { readonly http: number; readonly grpc: GrpcStatus }>> = {
  INVALID_ARGUMENT: { http: 400, grpc: GrpcStatus.INVALID_ARGUMENT },
  UNAUTHENTICATED: { http: 401, grpc: GrpcStatus.UNAUTHENTICATED },
  PERMISSION_DENIED: { http: 403, grpc: GrpcStatus.PERMISSION_DENIED },
  NOT_FOUND: { http: 404, grpc: GrpcStatus.NOT_FOUND },
  CONFLICT: { http: 409, grpc: GrpcStatus.ABORTED },
  PAYLOAD_TOO_LARGE: { http: 413, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, grpc: GrpcStatus.INVALID_ARGUMENT },
  RESOURCE_EXHAUSTED: { http: 429, grpc: GrpcStatus.RESOURCE_EXHAUSTED },
  UNAVAILABLE: { http: 503, grpc: GrpcStatus.UNAVAILABLE },
  INTERNAL: { http: 500, grpc: GrpcStatus.INTERNAL },
};

/** A `ServiceError` at the edge: it knows its HTTP and gRPC status and its JSON body. */
export class ApiError extends ServiceError {
  constructor(code: ApiErrorCode, message: string, details: readonly unknown[] = [], retryAfterMs?: number) {
    super(code, message, details, retryAfterMs);
    this.name = 'ApiError';
  }

  get status(): number {
    return EDGE_STATUS[this.code].http;
  }

  get grpcStatus(): GrpcStatus {
    return EDGE_STATUS[this.code].grpc;
  }

  toJSON(): { error: { code: ApiErrorCode; message: string; details: readonly unknown[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** Codes of domain errors outside the registry, CA issuance and tokens (each class declares its own). */
export const OTHER_DOMAIN_ERROR_CODES = [
  /** RotationPhaseError: the stored root-rotation state is unreadable or the step is out of order. */
  'ROTATION_STATE_INVALID',
  /** TrustChangeError: a trust change that is neither a superset nor a subset. */
  'TRUST_CHANGE_REFUSED',
  /** CaMaterialError: CA material that does not parse or does not fit together. */
  'CA_MATERIAL_INVALID',
  /** KekError: the key-encryption key is missing, malformed or not the one that sealed the material. */
  'KEK_INVALID',
  /** UnknownWorkloadError: the translator was asked for a workload that is not registered. */
  'UNKNOWN_WORKLOAD',
  /** IssuanceRateLimitedError: a workload asked for certificates faster than its bucket refills. */
  'RATE_LIMITED',
] as const;

export type DomainErrorCode = RegistryErrorCode | IssuanceErrorCode | TokenErrorCode | (typeof OTHER_DOMAIN_ERROR_CODES)[number];

/**
 * Every domain error code and the API code it becomes. Typed over the union of every module's
 * codes, so a code added to a module without a mapping here does not compile.
 */
export const DOMAIN_CODES: Readonly<Record<DomainErrorCode, ApiErrorCode>> = {
  // registry
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  STORE_UNAVAILABLE: 'UNAVAILABLE',
  VALIDATION_FAILED: 'INVALID_ARGUMENT',
  // CA issuance
  REVOKED: 'PERMISSION_DENIED',
  INVALID_SPIFFE_ID: 'INVALID_ARGUMENT',
  INVALID_SAN: 'INVALID_ARGUMENT',
  INVALID_CSR: 'INVALID_ARGUMENT',
  UNSUPPORTED_KEY: 'INVALID_ARGUMENT',
  INVALID_TTL: 'INVALID_ARGUMENT',
  INVALID_SERIAL: 'INVALID_ARGUMENT',
  // The CA's own state, not the caller's request: the caller can only wait for the operator.
  ISSUER_EXPIRED: 'UNAVAILABLE',
  // workload tokens
  EXPIRED: 'UNAUTHENTICATED',
  BAD_SIGNATURE: 'UNAUTHENTICATED',
  MALFORMED: 'UNAUTHENTICATED',
  DENIED: 'UNAUTHENTICATED',
  // others
  ROTATION_STATE_INVALID: 'CONFLICT',
  TRUST_CHANGE_REFUSED: 'CONFLICT',
  CA_MATERIAL_INVALID: 'UNAVAILABLE',
  KEK_INVALID: 'UNAVAILABLE',
  UNKNOWN_WORKLOAD: 'NOT_FOUND',
  RATE_LIMITED: 'RESOURCE_EXHAUSTED',
};

function isDomainCode(code: unknown): code is DomainErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(DOMAIN_CODES, code);
}

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof ServiceError) return new ApiError(error.code, error.message, error.details, error.retryAfterMs);
  if (error instanceof Error) {
    const { code, errors, details, retryAfterMs } = error as Error & { code?: unknown; errors?: unknown; details?: unknown; retryAfterMs?: unknown };
    if (isDomainCode(code)) {
      const list = Array.isArray(errors) ? errors : Array.isArray(details) ? details : [];
      return new ApiError(DOMAIN_CODES[code], error.message, list, typeof retryAfterMs === 'number' ? retryAfterMs : undefined);
    }
  }
  return new ApiError('INTERNAL', 'internal error; see the server log');
}
