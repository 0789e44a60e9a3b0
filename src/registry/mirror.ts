/**
 * Follows a store's change feed and keeps an immutable snapshot of the registry in memory.
 * Hot paths (xDS translation) read the snapshot, never the store. Listeners are told about changes
 * coalesced by a debounce: fired after `quietMs` without changes, and at the latest `maxDelayMs`
 * after the first change of a burst. While the store is down the last snapshot stays in force.
 */
import { serviceKey, type Service, type Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { deepFreeze } from '../core/deep-freeze.js';
import { MapBuilder } from './persistent-map.js';
import { deriveService } from './services.js';
import type { Store, Unsubscribe, WatchEvent } from './store.js';
import { realClock, type TimerHandle, type Clock } from '../core/clock.js';

/** Maps share structure between snapshots: iteration order is stable but not sorted. */
export interface MirrorSnapshot {
  readonly revision: number;
  readonly workloads: ReadonlyMap<string, Workload>;
  /** Keyed by `namespace/name` (see `serviceKey`). */
  readonly services: ReadonlyMap<string, Service>;
  readonly policies: readonly unknown[];
}

export type MirrorListener = (snapshot: MirrorSnapshot) => void;

export interface RegistryMirrorOptions {
  readonly store: Pick<Store, 'watch'>;
  readonly logger: Logger;
  readonly quietMs: number;
  readonly maxDelayMs: number;
  readonly clock?: Clock;
}

const EMPTY: MirrorSnapshot = Object.freeze({
  revision: 0,
  workloads: new Map<string, Workload>(),
  services: new Map<string, Service>(),
  policies: Object.freeze([]),
});

interface RevisionWaiter {
  readonly revision: number;
  readonly resolve: (snapshot: MirrorSnapshot) => void;
  readonly reject: (error: Error) => void;
  readonly timer: TimerHandle | undefined;
}

export class RegistryMirror {
  private readonly clock: Clock;
  private revision = 0;
  private readonly workloads = new MapBuilder<Workload>();
  private readonly services = new MapBuilder<Service>();
  /** Workloads by service key, to re-derive only the services a change touched. */
  private readonly members = new Map<string, Map<string, Workload>>();
  private readonly dirtyServices = new Set<string>();
  private policies: readonly unknown[] = EMPTY.policies;
  private cached: MirrorSnapshot | undefined = EMPTY;
  private readonly listeners = new Set<MirrorListener>();
  private readonly waiters = new Set<RevisionWaiter>();
  private unsubscribe: Unsubscribe | undefined;
  private burstStartedAt: number | undefined;
  private debounceTimer: TimerHandle | undefined;

  private quietMs: number;
  private maxDelayMs: number;

  constructor(private readonly options: RegistryMirrorOptions) {
    this.clock = options.clock ?? realClock;
    this.quietMs = options.quietMs;
    this.maxDelayMs = options.maxDelayMs;
    this.setDebounce(options);
  }

  /** Changes the debounce (the Mesh policy carries it); applies from the next change on. */
  setDebounce(debounce: { readonly quietMs: number; readonly maxDelayMs: number }): void {
    if (debounce.quietMs < 0 || debounce.maxDelayMs < debounce.quietMs) {
      throw new RangeError('debounce: need 0 ≤ quietMs ≤ maxDelayMs');
    }
    this.quietMs = debounce.quietMs;
    this.maxDelayMs = debounce.maxDelayMs;
  }

  start(): void {
    if (this.unsubscribe !== undefined) return;
    this.unsubscribe = this.options.store.watch(this.revision, (event) => this.onEvent(event));
  }

  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.debounceTimer !== undefined) this.clock.clearTimeout(this.debounceTimer);
    this.debounceTimer = undefined;
    this.burstStartedAt = undefined;
    for (const waiter of this.waiters) this.settleWaiter(waiter, new Error('registry mirror stopped'));
  }

  /** The newest state applied (not waiting for the debounce). */
  snapshot(): MirrorSnapshot {
    if (this.cached === undefined) {
      for (const key of this.dirtyServices) {
        const group = this.members.get(key);
        const first = group?.values().next().value;
        if (group === undefined || first === undefined) this.services.delete(key);
        else this.services.set(key, deepFreeze(deriveService(first.service, first.namespace, group.values())));
      }
      this.dirtyServices.clear();
      this.cached = Object.freeze({
        revision: this.revision,
        workloads: this.workloads.snapshot(),
        services: this.services.snapshot(),
        policies: this.policies,
      });
    }
    return this.cached;
  }

  /** Called with the newest snapshot once per debounced burst of changes. */
  onChange(listener: MirrorListener): Unsubscribe {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once the mirror has applied `revision` (rejects after `timeoutMs`, if given). */
  waitForRevision(revision: number, timeoutMs?: number): Promise<MirrorSnapshot> {
    if (this.revision >= revision) return Promise.resolve(this.snapshot());
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === undefined
          ? undefined
          : this.clock.setTimeout(() => {
              this.settleWaiter(waiter, new Error(`registry mirror did not reach revision ${revision} in ${timeoutMs} ms`));
            }, timeoutMs);
      const waiter: RevisionWaiter = { revision, resolve, reject, timer };
      this.waiters.add(waiter);
    });
  }

  private onEvent(event: WatchEvent): void {
    if (event.type === 'resync') {
      for (const id of [...this.workloads.snapshot().keys()]) this.removeWorkload(id);
      for (const stored of event.state.workloads) this.putWorkload(stored.workload);
      this.policies = event.state.policies.docs;
      this.options.logger.info({ revision: event.revision, workloads: this.workloads.size }, 'registry mirror resynced');
    } else if (event.kind === 'workload') {
      if (event.op === 'put') this.putWorkload(event.value);
      else this.removeWorkload(event.key);
    } else if (event.kind === 'policies') {
      this.policies = event.value;
    } else {
      // Key-value entries (CA material) are not part of the mesh snapshot; only the revision moves.
    }
    this.revision = event.revision;
    this.cached = undefined;
    for (const waiter of this.waiters) if (this.revision >= waiter.revision) this.settleWaiter(waiter);
    this.schedule();
  }

  private putWorkload(workload: Workload): void {
    this.removeWorkload(workload.id);
    this.workloads.set(workload.id, workload);
    const key = serviceKey(workload.namespace, workload.service);
    let group = this.members.get(key);
    if (group === undefined) {
      group = new Map();
      this.members.set(key, group);
    }
    group.set(workload.id, workload);
    this.dirtyServices.add(key);
  }

  private removeWorkload(id: string): void {
    const previous = this.workloads.get(id);
    if (previous === undefined) return;
    this.workloads.delete(id);
    const key = serviceKey(previous.namespace, previous.service);
    const group = this.members.get(key);
    group?.delete(id);
    if (group?.size === 0) this.members.delete(key);
    this.dirtyServices.add(key);
  }

  private schedule(): void {
    const now = this.clock.now();
    this.burstStartedAt ??= now;
    if (this.debounceTimer !== undefined) this.clock.clearTimeout(this.debounceTimer);
    const untilMaxDelay = this.burstStartedAt + this.maxDelayMs - now;
    const delay = Math.max(0, Math.min(this.quietMs, untilMaxDelay));
    this.debounceTimer = this.clock.setTimeout(() => this.publish(), delay);
  }

  private publish(): void {
    this.debounceTimer = undefined;
    this.burstStartedAt = undefined;
    const snapshot = this.snapshot();
    for (const listener of this.listeners) {
      try {
        listener(snapshot);
      } catch (err) {
        this.options.logger.error({ err, revision: snapshot.revision }, 'registry mirror listener threw');
      }
    }
  }

  private settleWaiter(waiter: RevisionWaiter, error?: Error): void {
    if (!this.waiters.delete(waiter)) return;
    if (waiter.timer !== undefined) this.clock.clearTimeout(waiter.timer);
    if (error === undefined) waiter.resolve(this.snapshot());
    else waiter.reject(error);
  }
}
