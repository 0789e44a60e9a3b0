import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';

/** Whether node was started with its own heap growth factor. */
export function heapGrowthGiven(execArgv: readonly string[], nodeOptions: string | undefined): boolean {
  return [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].some((arg) => /^--heap[-_]growing[-_]percent\b/.test(arg));
}

/** Sets V8's old-generation growth factor: 1 + `percent`/100, or V8's own heuristics for 0. */
export function setHeapGrowingPercent(percent: number): void {
  setFlagsFromString(`--heap-growing-percent=${percent}`);
}

/**
 * A full garbage collection on demand. V8 applies a new growth factor only to the limit it computes
 * after its next full collection: without one, the garbage after a storm fills the larger limit the
 * storm left (churn at 5,000 proxies: + 59 % RSS for 40 s) before the cap takes hold.
 *
 * It compacts: a reconnect storm leaves the old generation's pages a fraction full (objects of
 * every stream's set-up interleaved with what each stream keeps), and V8's own heuristics compact
 * few of them, so the heap stayed ≈ 90 MB larger than what it held at 10,000 proxies
 * (docs/benchmarks.md, `fleet`). The flag is on for this one collection only.
 */
export function fullCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('V8 did not expose gc()');
  return () => {
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      (gc as () => void)();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/**
 * Whether the event loop was busy less than `threshold` (0–1) of the time between two calls: a
 * push to thousands of proxies keeps it near 1, a quiet control plane near 0.
 */
export function eventLoopIdle(threshold: number): () => boolean {
  let previous = performance.eventLoopUtilization();
  return () => {
    const current = performance.eventLoopUtilization();
    const since = performance.eventLoopUtilization(current, previous);
    previous = current;
    return since.utilization < threshold;
  };
}

export interface HeapGrowthGovernorOptions {
  /** Growth allowed in steady state, in percent of the live heap. */
  readonly steadyPercent: number;
  /** xDS streams being set up or waiting for a place to be: a fleet connecting when many. */
  readonly streamsSettingUp: () => number;
  /** This many streams setting up at once is a reconnect storm. */
  readonly stormStreams: number;
  /** A storm is over once this long passes without one. */
  readonly quietMs: number;
  /** How often the streams are counted. */
  readonly checkMs: number;
  readonly setPercent: (percent: number) => void;
  /** Run when the cap comes back after V8's own heuristics, so it applies from now (see fullCollection). */
  readonly collect?: () => void;
  /**
   * Whether the process was mostly idle since the previous check. The collection stops the world
   * (≈ 0.2–0.4 s at 10,000 proxies): it waits for an idle check, so that it does not start in the
   * middle of a push, but no longer than `maxCollectDelayMs`. Without it, it runs as soon as the cap
   * comes back.
   */
  readonly idle?: () => boolean;
  readonly maxCollectDelayMs?: number;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Caps V8's heap growth (decision 0029) except while a fleet is (re)connecting.
 *
 * In steady state the cap keeps churn memory flat: every change replaces config old enough to have
 * been promoted, and with V8's own factor (up to 4× the live heap on a host with 4 GB or more)
 * garbage, not live config, sets the RSS. While thousands of streams are being set up the live heap
 * is what grows, and a tight cap turns that growth into back-to-back full collections: at 10,000
 * proxies the cap alone made a cold start 75 % longer. So the cap is lifted while streams are
 * being set up in numbers, and comes back once the storm has been over for `quietMs`.
 */
export class HeapGrowthGovernor {
  private capped: boolean | undefined;
  private quietSince: number | undefined;
  /** When the cap came back with its collection still to run. */
  private collectDueSince: number | undefined;
  private timer: TimerHandle | undefined;
  private stopped = false;

  constructor(private readonly options: HeapGrowthGovernorOptions) {}

  /** Starts uncapped: a process that just started is about to serve its whole fleet. */
  start(): void {
    this.apply(false);
    this.quietSince = this.options.clock.now();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.collectDueSince = undefined;
    this.options.clock.clearTimeout(this.timer);
  }

  /** Whether the steady-state cap is in force. */
  get isCapped(): boolean {
    return this.capped === true;
  }

  /** One check: exposed for tests; the timer calls it every `checkMs`. */
  check(): void {
    const now = this.options.clock.now();
    // Asked on every check, so that it covers exactly the time since the previous one.
    const idle = this.options.idle?.() ?? true;
    const settingUp = this.options.streamsSettingUp();
    if (settingUp >= this.options.stormStreams) {
      this.quietSince = undefined;
      this.collectDueSince = undefined;
      if (this.capped !== false) {
        this.options.logger.info({ streamsSettingUp: settingUp }, 'reconnect storm: heap growth left to V8 until it is over');
        this.apply(false);
      }
      return;
    }
    this.quietSince ??= now;
    if (this.capped !== true && now - this.quietSince >= this.options.quietMs) {
      this.apply(true);
      this.collectDueSince = now;
      this.options.logger.info({ heapGrowingPercent: this.options.steadyPercent }, 'no reconnect storm: heap growth capped');
    }
    if (this.collectDueSince !== undefined) this.collectWhenIdle(now - this.collectDueSince, idle);
  }

  private collectWhenIdle(waitedMs: number, idle: boolean): void {
    if (!idle && waitedMs < (this.options.maxCollectDelayMs ?? 0)) return;
    this.collectDueSince = undefined;
    if (!this.options.collect) return;
    const started = performance.now();
    this.options.collect();
    this.options.logger.info({ fullCollectionMs: Math.round(performance.now() - started), waitedMs, idle }, 'full collection: the capped growth factor applies from now');
  }

  private apply(capped: boolean): void {
    this.capped = capped;
    this.options.setPercent(capped ? this.options.steadyPercent : 0);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.check();
      this.schedule();
    }, this.options.checkMs);
  }
}
