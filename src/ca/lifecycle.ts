/** Pure CA-certificate lifecycle rules; time is always an argument. */

export type ExpirySeverity = 'ok' | 'warning' | 'critical' | 'expired';

export interface CertValidity {
  readonly notBefore: number;
  readonly notAfter: number;
}

export interface ExpiryThresholds {
  /** Warn once less than this fraction of the lifetime is left (default 0.2)... */
  readonly warnFraction?: number;
  /** ...or less than this long, whichever comes first (default 30 days). */
  readonly warnMinMs?: number;
  /** Critical once less than this long is left (default 7 days, capped at 5% of the lifetime... for short CAs). */
  readonly criticalMs?: number;
}

const DAY_MS = 24 * 3600_000;

export function expirySeverity(validity: CertValidity, now: number, thresholds: ExpiryThresholds = {}): ExpirySeverity {
  const left = validity.notAfter - now;
  if (left <= 0) return 'expired';
  const lifetime = validity.notAfter - validity.notBefore;
  const critical = Math.min(thresholds.criticalMs ?? 7 * DAY_MS, lifetime * 0.05);
  if (left <= critical) return 'critical';
  const warn = Math.max(lifetime * (thresholds.warnFraction ?? 0.2), Math.min(thresholds.warnMinMs ?? 30 * DAY_MS, lifetime * 0.5));
  return left <= warn ? 'warning' : 'ok';
}

export interface IntermediateRenewalPolicy {
  /** The longest leaf TTL the CA issues. */
  readonly maxLeafTtlMs: number;
  /** Extra headroom beyond one leaf lifetime (default 1 h). */
  readonly marginMs?: number;
}

/**
 * When to prepare (and, under the same root, activate) the next intermediate: at half its life
 * (SPIRE's rule), and in any case while the current one still has at least two leaf lifetimes plus
 * the margin left, so a leaf issued by the current one never has to be clamped short.
 */
export function nextIntermediateAt(current: CertValidity, policy: IntermediateRenewalPolicy): number {
  const halfLife = current.notBefore + (current.notAfter - current.notBefore) / 2;
  const latest = current.notAfter - 2 * (policy.maxLeafTtlMs + (policy.marginMs ?? 3600_000));
  return Math.min(halfLife, latest);
}

export function shouldPrepareNextIntermediate(current: CertValidity, now: number, policy: IntermediateRenewalPolicy): boolean {
  return now >= nextIntermediateAt(current, policy);
}
