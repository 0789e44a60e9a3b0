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
 */
export function fullCollection(): () => void {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  if (typeof gc !== 'function') throw new Error('V8 did not expose gc()');
  return () => (gc as () => void)();
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
    this.options.clock.clearTimeout(this.timer);
  }

  /** Whether the steady-state cap is in force. */
  get isCapped(): boolean {
    return this.capped === true;
  }

  /** One check: exposed for tests; the timer calls it every `checkMs`. */
  check(): void {
    const now = this.options.clock.now();
    const settingUp = this.options.streamsSettingUp();
    if (settingUp >= this.options.stormStreams) {
      this.quietSince = undefined;
      if (this.capped !== false) {
        this.options.logger.info({ streamsSettingUp: settingUp }, 'reconnect storm: heap growth left to V8 until it is over');
        this.apply(false);
      }
      return;
    }
    this.quietSince ??= now;
    if (this.capped !== true && now - this.quietSince >= this.options.quietMs) {
      this.apply(true);
      const started = performance.now();
      this.options.collect?.();
      this.options.logger.info(
        { heapGrowingPercent: this.options.steadyPercent, fullCollectionMs: Math.round(performance.now() - started) },
        'no reconnect storm: heap growth capped',
      );
    }
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
