/**
 * Periodically asks the store to remove workloads whose lease ran out. In the Redis store only the
 * replica holding the reaper lock actually reaps; the others' calls return `leader: false`.
 *
 * Every call is also this replica's heartbeat in the store (ReapPresence): time during which no
 * replica was up — all stopped, or the store unreachable — never counts against a lease. A replica
 * that starts, or reaches the store again after failing to, reaps nothing while it joins; if it then
 * finds that no replica was up before it, every lease is extended to a full lease plus the reconnect
 * window, so connected sidecars can come back and renew before anything is judged expired.
 */
import type { Logger } from '../observability/logger.js';
import type { LeaseMetrics } from './metrics.js';
import type { ReapResult, Store } from './store.js';
import { realClock, type TimerHandle, type Clock } from '../core/clock.js';

export interface LeaseReaperOptions {
  readonly store: Pick<Store, 'reapExpired'>;
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Heartbeats further apart than this mean this replica was away; also how long joining takes. */
  readonly absentAfterMs: number;
  /** Granted on top of a full lease to every leased workload when no replica was up before this one. */
  readonly reconnectWindowMs: number;
  readonly metrics?: LeaseMetrics;
  readonly clock?: Clock;
}

export class LeaseReaper {
  private readonly clock: Clock;
  private timer: TimerHandle | undefined;
  private running = false;
  private rejoin = false;
  private joining = false;
  private inFlight: Promise<void> | undefined;
  /** When the last call to the store finished, failed or not (a wedged store client never finishes). */
  lastTickAt: number | undefined;

  constructor(private readonly options: LeaseReaperOptions) {
    this.clock = options.clock ?? realClock;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.scheduleNext();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  /** One reaping pass (and heartbeat); `undefined` when the store could not be reached. */
  async tick(): Promise<ReapResult | undefined> {
    const now = this.clock.now();
    const { absentAfterMs, reconnectWindowMs, logger } = this.options;
    try {
      const result = await this.options.store.reapExpired(now, { absentAfterMs, reconnectWindowMs, rejoin: this.rejoin });
      this.rejoin = false;
      if (result.joining && !this.joining) {
        logger.info({ absentAfterMs }, 'joining: no lease is reaped until it is known whether another replica was up');
      }
      this.joining = result.joining === true;
      if (result.extended !== undefined) {
        this.options.metrics?.extensions.inc();
        logger.warn(
          { extended: result.extended, reconnectWindowMs },
          'no control-plane replica was up before this one: every lease now ends no sooner than a full lease plus the reconnect window from now',
        );
      }
      if (result.expired.length > 0) {
        this.options.metrics?.expired.inc(result.expired.length);
        logger.info({ expired: result.expired }, 'workload leases expired');
      }
      return result;
    } catch (err) {
      if (!this.rejoin) logger.warn({ err }, 'lease reaping failed; this replica rejoins once the store answers again');
      this.rejoin = true;
      return undefined;
    } finally {
      this.lastTickAt = this.clock.now();
    }
  }

  private scheduleNext(): void {
    if (!this.running) return;
    this.timer = this.clock.setTimeout(() => {
      this.inFlight = this.tick().then(() => {
        this.inFlight = undefined;
        this.scheduleNext();
      });
    }, this.options.intervalMs);
  }
}
