/**
 * Periodically asks the store to remove workloads whose lease ran out. In the Redis store only the
 * replica holding the reaper lock actually reaps; the others' calls return `leader: false`.
 *
 * After the store has been unreachable, reaping pauses for `graceAfterOutageMs`: workloads could
 * not heartbeat during the outage and must get a chance to renew before they are judged expired.
 */
import type { Logger } from '../observability/logger.js';
import type { ReapResult, Store } from './store.js';
import { realTimers, type TimerHandle, type Timers } from './timers.js';

export interface LeaseReaperOptions {
  readonly store: Pick<Store, 'reapExpired'>;
  readonly logger: Logger;
  readonly intervalMs: number;
  readonly graceAfterOutageMs: number;
  readonly timers?: Timers;
}

export class LeaseReaper {
  private readonly timers: Timers;
  private timer: TimerHandle | undefined;
  private running = false;
  private lastFailureAt: number | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(private readonly options: LeaseReaperOptions) {
    this.timers = options.timers ?? realTimers;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.scheduleNext();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** One reaping pass; `undefined` when skipped (store failing or within the post-outage grace). */
  async tick(): Promise<ReapResult | undefined> {
    const now = this.timers.now();
    if (this.lastFailureAt !== undefined && now - this.lastFailureAt < this.options.graceAfterOutageMs) {
      return undefined;
    }
    try {
      const result = await this.options.store.reapExpired(now);
      if (result.expired.length > 0) {
        this.options.logger.info({ expired: result.expired }, 'workload leases expired');
      }
      this.lastFailureAt = undefined;
      return result;
    } catch (err) {
      this.lastFailureAt = now;
      this.options.logger.warn({ err }, 'lease reaping failed; pausing reaping for the grace period');
      return undefined;
    }
  }

  private scheduleNext(): void {
    if (!this.running) return;
    this.timer = this.timers.setTimeout(() => {
      this.inFlight = this.tick().then(() => {
        this.inFlight = undefined;
        this.scheduleNext();
      });
    }, this.options.intervalMs);
  }
}
