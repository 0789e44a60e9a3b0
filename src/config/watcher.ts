/**
 * Keeps the policies from a file or directory current. Changes are noticed with `fs.watch`,
 * coalesced (a quiet period, bounded by a maximum delay) and reloaded as a whole. A load with
 * errors is reported but does not replace the last good PolicySet.
 */
import { statSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { PolicyDocument, PolicySet } from '../core/policy.js';
import type { Logger } from '../observability/logger.js';
import { realClock, type Clock, type TimerHandle } from '../core/clock.js';
import { formatPolicyError, type PolicyError } from './errors.js';
import { loadPolicyPath } from './load.js';
import type { PolicyLoadResult } from './parse.js';
import { documentsToJson } from './serialize.js';

export interface PolicyWatcherOptions {
  /** A policy file, or a directory of `*.yaml` / `*.yml` files. */
  readonly path: string;
  /** Called after a reload whose outcome differs from the previous one (a new set, or new errors). */
  readonly onChange: (result: PolicyLoadResult) => void;
  readonly logger: Logger;
  /** Timers; the real clock by default. */
  readonly clock?: Clock;
  /** Quiet period after the last file event before reloading. Default 200ms. */
  readonly quietMs?: number;
  /** Reload at the latest this long after the first of a burst of events. Default 2s. */
  readonly maxDelayMs?: number;
  /** How long to wait before trying again to watch a path that cannot be watched. Default 1s. */
  readonly retryWatchMs?: number;
}

export interface PolicyWatcherState {
  /** The last good set; undefined until a load succeeds. */
  readonly policySet: PolicySet | undefined;
  /** The documents of the last good set. */
  readonly documents: readonly PolicyDocument[];
  /** Errors of the most recent load; empty when it succeeded. */
  readonly errors: readonly PolicyError[];
}

function outcomeKey(result: PolicyLoadResult): string {
  return JSON.stringify(result.ok ? { documents: documentsToJson(result.documents) } : { errors: result.errors });
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

export class PolicyWatcher {
  private readonly quietMs: number;
  private readonly maxDelayMs: number;
  private readonly retryWatchMs: number;
  private fsWatcher: FSWatcher | undefined;
  private quietTimer: TimerHandle | undefined;
  private maxDelayTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private lastOutcome = '';
  private good: { readonly policySet: PolicySet; readonly documents: readonly PolicyDocument[] } | undefined;
  private lastErrors: readonly PolicyError[] = [];

  private readonly clock: Clock;

  constructor(private readonly options: PolicyWatcherOptions) {
    this.clock = options.clock ?? realClock;
    this.quietMs = options.quietMs ?? 200;
    this.maxDelayMs = options.maxDelayMs ?? 2000;
    this.retryWatchMs = options.retryWatchMs ?? 1000;
  }

  /** Loads once and starts watching. The initial result is returned, not passed to `onChange`. */
  async start(): Promise<PolicyLoadResult> {
    const result = await this.load();
    this.lastOutcome = outcomeKey(result);
    this.log(result);
    this.watchPath();
    return result;
  }

  state(): PolicyWatcherState {
    return { policySet: this.good?.policySet, documents: this.good?.documents ?? [], errors: this.lastErrors };
  }

  /**
   * Reloads now (the file events call this too). Reloads run one at a time, in call order, and
   * each reads the files afresh, so the result reflects every change made before the call.
   */
  reload(): Promise<PolicyLoadResult> {
    const next = this.queue.then(() => this.reloadAndReport());
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.closed = true;
    this.fsWatcher?.close();
    this.fsWatcher = undefined;
    this.clock.clearTimeout(this.quietTimer);
    this.clock.clearTimeout(this.maxDelayTimer);
    this.clock.clearTimeout(this.retryTimer);
  }

  private async reloadAndReport(): Promise<PolicyLoadResult> {
    const result = await this.load();
    const outcome = outcomeKey(result);
    // File events come in bursts and for unrelated files; report only what changes something.
    if (this.closed || outcome === this.lastOutcome) return result;
    this.lastOutcome = outcome;
    this.log(result);
    try {
      this.options.onChange(result);
    } catch (error) {
      this.options.logger.error({ err: error }, 'policy change handler failed');
    }
    return result;
  }

  private async load(): Promise<PolicyLoadResult> {
    const result = await loadPolicyPath(this.options.path);
    if (result.ok) {
      this.good = { policySet: result.policySet, documents: result.documents };
      this.lastErrors = [];
    } else {
      this.lastErrors = result.errors;
    }
    return result;
  }

  private log(result: PolicyLoadResult): void {
    const { path, logger } = this.options;
    if (result.ok) logger.info({ path, documents: result.documents.length }, 'policies loaded');
    else logger.warn({ path, errors: result.errors.map(formatPolicyError) }, 'policies rejected; the previous policies stay in force');
  }

  private schedule(): void {
    if (this.closed) return;
    this.clock.clearTimeout(this.quietTimer);
    this.quietTimer = this.clock.setTimeout(() => this.fire(), this.quietMs);
    this.maxDelayTimer ??= this.clock.setTimeout(() => this.fire(), this.maxDelayMs);
  }

  private fire(): void {
    this.clock.clearTimeout(this.quietTimer);
    this.clock.clearTimeout(this.maxDelayTimer);
    this.quietTimer = undefined;
    this.maxDelayTimer = undefined;
    if (this.fsWatcher === undefined) this.watchPath();
    this.reload().catch((error: unknown) => this.options.logger.error({ err: error }, 'policy reload failed'));
  }

  /**
   * A single file is watched through its directory, and any event there triggers a reload:
   * editors save by renaming a new file over the old one, and a mounted Kubernetes ConfigMap
   * changes by swapping a `..data` link, neither of which a watch on the file itself survives.
   */
  private watchPath(): void {
    if (this.closed || this.fsWatcher !== undefined) return;
    const { path, logger } = this.options;
    const watched = isDirectory(path) ? path : dirname(path);
    try {
      this.fsWatcher = watch(watched, () => this.schedule());
    } catch (error) {
      logger.warn({ err: error, path: watched }, 'cannot watch policy path; retrying');
      this.retryTimer = this.clock.setTimeout(() => this.fire(), this.retryWatchMs);
      return;
    }
    this.fsWatcher.on('error', (error) => {
      logger.warn({ err: error, path: watched }, 'policy watch failed; retrying');
      this.fsWatcher?.close();
      this.fsWatcher = undefined;
      this.retryTimer = this.clock.setTimeout(() => this.fire(), this.retryWatchMs);
    });
  }
}
