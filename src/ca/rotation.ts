/** Leaf rotation scheduling: pure, with the random source injected. */

export interface RotationPolicy {
  /** Fraction of the lifetime at which to rotate (default 0.5). */
  readonly rotateAt?: number;
  /** ± this fraction of the lifetime, uniformly (default 0.1). */
  readonly jitter?: number;
  /** Past this fraction of the lifetime, rotate immediately (default 0.9). */
  readonly urgentAt?: number;
}

export const DEFAULT_ROTATION_POLICY: Required<RotationPolicy> = { rotateAt: 0.5, jitter: 0.1, urgentAt: 0.9 };

/**
 * When to replace a certificate valid over [notBefore, notAfter] (ms). `random` returns a value in
 * [0, 1) (Math.random in production, a seeded source in tests). The jittered point is kept inside
 * the lifetime and never later than the urgent point. If `now` is already past the urgent point,
 * the answer is `now`: rotate immediately.
 */
export function rotationTime(
  validity: { readonly notBefore: number; readonly notAfter: number },
  now: number,
  random: () => number,
  policy: RotationPolicy = {},
): number {
  const { rotateAt, jitter, urgentAt } = { ...DEFAULT_ROTATION_POLICY, ...policy };
  if (!(rotateAt > 0 && rotateAt < 1)) throw new RangeError(`rotateAt: ${rotateAt} is not in (0, 1)`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`jitter: ${jitter} is not in [0, 1)`);
  const lifetime = validity.notAfter - validity.notBefore;
  const urgent = validity.notBefore + lifetime * urgentAt;
  if (lifetime <= 0 || now >= urgent) return now;
  const fraction = Math.min(Math.max(rotateAt + (random() * 2 - 1) * jitter, 0), urgentAt);
  return Math.round(validity.notBefore + lifetime * fraction);
}

/** True when the certificate should be replaced at `now` (its rotation time has come). */
export function shouldRotate(
  validity: { readonly notBefore: number; readonly notAfter: number },
  rotateAtMs: number,
  now: number,
): boolean {
  return now >= rotateAtMs || now >= validity.notAfter;
}
