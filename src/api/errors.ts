/**
 * The API's error catalog: stable codes mapped to HTTP statuses at the edge. Domain modules
 * throw their own typed errors carrying a `code`; `toApiError` translates them once, here.
 */

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

export type ApiErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'UNAVAILABLE'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'INTERNAL';

const STATUS: Record<ApiErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAVAILABLE: 503,
  INTERNAL: 500,
};

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly details: readonly unknown[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get status(): number {
    return STATUS[this.code];
  }

  toJSON(): { error: { code: ApiErrorCode; message: string; details: readonly unknown[] } } {
    return { error: { code: this.code, message: this.message, details: this.details } };
  }
}

/** Domain error codes (registry, config, CA) and the API code each one becomes. */
const DOMAIN_CODES: Record<string, ApiErrorCode> = {
  NOT_FOUND: 'NOT_FOUND',
  CONFLICT: 'CONFLICT',
  STORE_UNAVAILABLE: 'UNAVAILABLE',
  UNAVAILABLE: 'UNAVAILABLE',
  VALIDATION: 'INVALID_ARGUMENT',
  VALIDATION_FAILED: 'INVALID_ARGUMENT',
  POLICY_INVALID: 'INVALID_ARGUMENT',
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  REVOKED: 'PERMISSION_DENIED',
};

export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error) {
    const code = (error as Error & { code?: unknown }).code;
    const mapped = typeof code === 'string' ? DOMAIN_CODES[code] : undefined;
    if (mapped) {
      const details = (error as Error & { errors?: unknown; details?: unknown }).errors ??
        (error as Error & { details?: unknown }).details;
      return new ApiError(mapped, error.message, Array.isArray(details) ? details : []);
    }
  }
  return new ApiError('INTERNAL', 'internal error; see the server log');
}
