/**
 * The registry's error catalog. Callers branch on `code` (stable), never on message text;
 * the API maps codes to statuses at its edge (404, 409, 503, 400).
 */

export interface FieldError {
  /** Path of the offending field, e.g. `port`, `labels["app"]`, `upstreams[0].localPort`. */
  readonly field: string;
  readonly message: string;
}

/** Every code a RegistryError can carry (the API maps each one; a test walks this list). */
export const REGISTRY_ERROR_CODES = ['NOT_FOUND', 'CONFLICT', 'STORE_UNAVAILABLE', 'VALIDATION_FAILED'] as const;
export type RegistryErrorCode = (typeof REGISTRY_ERROR_CODES)[number];

export abstract class RegistryError extends Error {
  abstract readonly code: RegistryErrorCode;
}

export class NotFoundError extends RegistryError {
  readonly code = 'NOT_FOUND';
  constructor(
    readonly kind: 'workload' | 'kv',
    readonly key: string,
  ) {
    super(`${kind} "${key}" not found`);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends RegistryError {
  readonly code = 'CONFLICT';
  constructor(
    readonly kind: 'workload' | 'policies',
    readonly key: string,
    readonly expectedRevision: number,
    /** The revision actually stored; 0 when the item does not exist. */
    readonly actualRevision: number,
  ) {
    super(`${kind} "${key}" is at revision ${actualRevision}, expected ${expectedRevision}`);
    this.name = 'ConflictError';
  }
}

export class StoreUnavailableError extends RegistryError {
  readonly code = 'STORE_UNAVAILABLE';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}

export class ValidationError extends RegistryError {
  readonly code = 'VALIDATION_FAILED';
  constructor(readonly errors: readonly FieldError[]) {
    super(`invalid: ${errors.map((e) => `${e.field}: ${e.message}`).join('; ')}`);
    this.name = 'ValidationError';
  }
}
