/** How many certificates one workload may ask for: a burst, then a steady rate. */
export interface IssuanceLimits {
  /** Certificates a workload may get at once. */
  readonly burst: number;
  /** Certificates per minute after the burst. */
  readonly perMinute: number;
}

export const DEFAULT_ISSUANCE_LIMITS: IssuanceLimits = { burst: 5, perMinute: 3 };

/** A workload asked for certificates faster than its bucket refills (HTTP 429, gRPC RESOURCE_EXHAUSTED). */
export class IssuanceRateLimitedError extends Error {
  readonly code = 'RATE_LIMITED';
  constructor(
    readonly workloadId: string,
    readonly retryAfterMs: number,
    limits: { readonly burst: number; readonly refillMs: number },
  ) {
    super(
      `workload "${workloadId}" asked for too many certificates: ${limits.burst} at once, then one every ${Math.ceil(limits.refillMs / 1000)} s; ` +
        `retry in ${Math.ceil(retryAfterMs / 1000)} s`,
    );
    this.name = 'IssuanceRateLimitedError';
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets are swept (full ones dropped) when there are more than this many, or twice as many as the last sweep kept. */
const SWEEP_ABOVE = 1024;

/**
 * A token bucket per workload for certificate issuance a caller can trigger (an agent's CSR, a
 * proxy opening an SDS stream). The refill interval never exceeds half the rotation interval, so
 * a workload rotating on schedule is never refused; a flood gets the burst and then the rate, and
 * the serials (and a later CRL) of one workload stay few. State is per replica.
 */
export class IssuanceLimiter {
  private readonly buckets = new Map<string, Bucket>();
  /** Sweeping on every take above a fixed size is quadratic when many workloads start at once (a fleet's cold start). */
  private sweepAbove = SWEEP_ABOVE;

  constructor(
    private readonly limits: IssuanceLimits,
    private readonly now: () => number,
  ) {
    if (!Number.isInteger(limits.burst) || limits.burst < 1) throw new Error(`issuance burst: expected a whole number >= 1, got ${limits.burst}`);
    if (!(limits.perMinute > 0)) throw new Error(`issuance rate: expected a positive number per minute, got ${limits.perMinute}`);
  }

  /** Takes one issuance for the workload, or throws IssuanceRateLimitedError. */
  take(workloadId: string, rotationIntervalMs: number): void {
    const refillMs = this.refillMs(rotationIntervalMs);
    const now = this.now();
    const bucket = this.buckets.get(workloadId) ?? { tokens: this.limits.burst, at: now };
    bucket.tokens = Math.min(this.limits.burst, bucket.tokens + Math.max(0, now - bucket.at) / refillMs);
    bucket.at = now;
    if (bucket.tokens < 1) {
      this.buckets.set(workloadId, bucket);
      throw new IssuanceRateLimitedError(workloadId, Math.ceil((1 - bucket.tokens) * refillMs), { burst: this.limits.burst, refillMs });
    }
    bucket.tokens -= 1;
    this.buckets.set(workloadId, bucket);
    if (this.buckets.size > this.sweepAbove) this.sweep(refillMs);
  }

  /** Drops buckets that have refilled completely (they hold no state a fresh one would not). */
  sweep(refillMs = 60_000 / this.limits.perMinute): void {
    const now = this.now();
    for (const [id, bucket] of this.buckets) {
      if (bucket.tokens + (now - bucket.at) / refillMs >= this.limits.burst) this.buckets.delete(id);
    }
    this.sweepAbove = Math.max(SWEEP_ABOVE, 2 * this.buckets.size);
  }

  get tracked(): number {
    return this.buckets.size;
  }

  private refillMs(rotationIntervalMs: number): number {
    const configured = 60_000 / this.limits.perMinute;
    return Math.max(1, Math.min(configured, rotationIntervalMs / 2));
  }
}
