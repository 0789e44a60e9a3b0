/**
 * A token bucket for signing: bulk re-issue (say 10,000 proxies after an issuer switch) is spread
 * out instead of starving the event loop. Pure: time is an argument, nothing is scheduled here.
 */
export class SigningBudget {
  private tokens: number;
  private updatedAt: number | undefined;

  constructor(
    readonly perSecond: number,
    readonly burst: number = perSecond,
  ) {
    if (!(perSecond > 0)) throw new RangeError(`perSecond: ${perSecond} must be positive`);
    if (!(burst >= 1)) throw new RangeError(`burst: ${burst} must be at least 1`);
    this.tokens = burst;
  }

  private refill(now: number): void {
    if (this.updatedAt !== undefined && now > this.updatedAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.perSecond);
    }
    if (this.updatedAt === undefined || now > this.updatedAt) this.updatedAt = now;
  }

  /** Takes up to `wanted` signatures' worth at `now`; returns how many may be signed now. */
  take(now: number, wanted = 1): number {
    this.refill(now);
    const granted = Math.min(wanted, Math.floor(this.tokens));
    this.tokens -= granted;
    return granted;
  }

  /** Milliseconds from `now` until one more signature is allowed (0 if one is available). */
  waitMs(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : Math.ceil(((1 - this.tokens) / this.perSecond) * 1000);
  }
}
