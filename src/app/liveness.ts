import { realClock, repeat, type Clock } from '../core/clock.js';
/**
 * What `/healthz` (the liveness probe) reports: whether this process still makes progress, so that
 * restarting it would help. Two signs of a wedged process:
 *
 * - the event loop stalled: the longest event-loop delay seen over the last two windows (5 s each)
 *   exceeds `eventLoopStallMs`;
 * - the store client wedged: the lease reaper calls the store every second and every call settles
 *   within the command timeout (Redis calls fail fast while Redis is down), so a call that has not
 *   settled for `storeStallMs` means a promise that never will.
 *
 * A store that is merely unreachable is NOT a liveness failure: a restart would not bring Redis
 * back, and xDS keeps serving the last state meanwhile (`/readyz` and metrics report it).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';

export interface LivenessOptions {
  readonly now: () => number;
  /** Timers; the real clock by default. */
  readonly clock?: Clock;
  /** When the last store call made by the lease reaper settled (undefined: none yet). */
  readonly storeCallSettledAt: () => number | undefined;
  readonly storeStallMs: number;
  readonly eventLoopStallMs: number;
}

export interface LivenessCheck {
  readonly ok: boolean;
  readonly detail: Record<string, number | undefined>;
}

export interface LivenessStatus {
  readonly live: boolean;
  readonly checks: { readonly eventLoop: LivenessCheck; readonly store: LivenessCheck };
}

const WINDOW_MS = 5000;

export class LivenessMonitor {
  private readonly delays: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private previousWindowMaxMs = 0;
  private stopWindows: (() => void) | undefined;
  private readonly startedAt: number;

  constructor(private readonly options: LivenessOptions) {
    this.startedAt = options.now();
  }

  start(): void {
    this.delays.enable();
    this.stopWindows = repeat(this.options.clock ?? realClock, WINDOW_MS, () => {
      this.previousWindowMaxMs = this.delays.max / 1e6;
      this.delays.reset();
    });
  }

  stop(): void {
    this.stopWindows?.();
    this.delays.disable();
  }

  status(): LivenessStatus {
    const now = this.options.now();
    const maxDelayMs = Math.round(Math.max(this.previousWindowMaxMs, this.delays.max / 1e6));
    const eventLoop = { ok: maxDelayMs <= this.options.eventLoopStallMs, detail: { maxDelayMs, limitMs: this.options.eventLoopStallMs } };
    const settledAt = this.options.storeCallSettledAt() ?? this.startedAt;
    const sinceMs = now - settledAt;
    const store = { ok: sinceMs <= this.options.storeStallMs, detail: { lastCallSettledMsAgo: sinceMs, limitMs: this.options.storeStallMs } };
    return { live: eventLoop.ok && store.ok, checks: { eventLoop, store } };
  }
}
