/**
 * A replica of the store's state at one revision, the recent change history, and the watchers fed
 * from them. The memory store keeps its data here; the Redis store keeps the copy its feed tailer
 * maintains, so local watchers never wait on Redis.
 */
import type { Logger } from '../observability/logger.js';
import { deepFreeze } from '../core/deep-freeze.js';
import type {
  ChangeEvent,
  KvEntry,
  PolicyRecord,
  StoreState,
  StoredWorkload,
  Unsubscribe,
  WatchEvent,
  WatchListener,
} from './store.js';

interface Watcher {
  readonly listener: WatchListener;
  queue: WatchEvent[];
  scheduled: boolean;
  active: boolean;
  /** Bumped by a resync so events queued before it are never delivered after it. */
  generation: number;
  /** Changes up to this revision are skipped: the watcher asked to start after it. */
  after: number;
}

/**
 * Changes kept for watchers resuming from an older revision (up to twice this many). A watcher
 * further behind gets a resync; every kept change holds its workload, so under registry churn
 * 10,000 of them were ~50 MB of heap that looked like a leak.
 */
export const DEFAULT_HISTORY_LIMIT = 1_000;

export interface StateFeedOptions {
  /** How many recent changes are kept for watchers that resume from an older revision. */
  readonly historyLimit: number;
  readonly logger: Logger;
}

const EMPTY_POLICIES: PolicyRecord = Object.freeze({ docs: Object.freeze([]), revision: 0 });

export class StateFeed {
  private currentRevision = 0;
  private readonly workloads = new Map<string, StoredWorkload>();
  private policies: PolicyRecord = EMPTY_POLICIES;
  private readonly kv = new Map<string, KvEntry>();
  /** Contiguous revisions: history[i].revision === history[0].revision + i. */
  private history: ChangeEvent[] = [];
  private readonly watchers = new Set<Watcher>();

  constructor(private readonly options: StateFeedOptions) {}

  get revision(): number {
    return this.currentRevision;
  }

  getWorkload(id: string): StoredWorkload | undefined {
    return this.workloads.get(id);
  }

  listWorkloads(): StoredWorkload[] {
    return [...this.workloads.values()];
  }

  getPolicies(): PolicyRecord {
    return this.policies;
  }

  kvGet(key: string): KvEntry | undefined {
    return this.kv.get(key);
  }

  /** Applies the next change. Its revision must be exactly one past the current one. */
  apply(event: ChangeEvent): void {
    if (event.revision !== this.currentRevision + 1) {
      throw new Error(`change at revision ${event.revision} does not follow revision ${this.currentRevision}`);
    }
    deepFreeze(event);
    this.applyToState(event);
    this.currentRevision = event.revision;
    this.history.push(event);
    if (this.history.length > this.options.historyLimit * 2) {
      this.history = this.history.slice(this.history.length - this.options.historyLimit);
    }
    for (const watcher of this.watchers) this.enqueue(watcher, event);
  }

  /** Replaces the whole state (after a gap or reconnect); every watcher receives a resync. */
  reset(state: StoreState): void {
    deepFreeze(state);
    this.workloads.clear();
    for (const stored of state.workloads) this.workloads.set(stored.workload.id, stored);
    this.policies = state.policies;
    this.kv.clear();
    for (const [key, entry] of Object.entries(state.kv)) this.kv.set(key, entry);
    this.currentRevision = state.revision;
    this.history = [];
    const resync: WatchEvent = { type: 'resync', revision: state.revision, state };
    for (const watcher of this.watchers) {
      watcher.queue = [];
      watcher.generation += 1;
      this.enqueue(watcher, resync);
    }
  }

  state(): StoreState {
    return {
      revision: this.currentRevision,
      workloads: this.listWorkloads(),
      policies: this.policies,
      kv: Object.fromEntries(this.kv),
    };
  }

  watch(fromRevision: number, listener: WatchListener): Unsubscribe {
    const start = Math.max(0, fromRevision);
    const watcher: Watcher = { listener, queue: [], scheduled: false, active: true, generation: 0, after: start };
    this.watchers.add(watcher);
    for (const event of this.backlog(start)) this.enqueue(watcher, event);
    return () => {
      watcher.active = false;
      watcher.queue = [];
      this.watchers.delete(watcher);
    };
  }

  closeAllWatchers(): void {
    for (const watcher of this.watchers) {
      watcher.active = false;
      watcher.queue = [];
    }
    this.watchers.clear();
  }

  private backlog(fromRevision: number): WatchEvent[] {
    if (fromRevision === this.currentRevision) return [];
    const first = this.history[0];
    if (fromRevision < this.currentRevision && first !== undefined && first.revision <= fromRevision + 1) {
      return this.history.slice(fromRevision + 1 - first.revision);
    }
    // Ahead of this replica (the Redis feed is still on its way here): changes will follow.
    if (fromRevision > this.currentRevision) return [];
    // Too old for the history: only the full state is safe.
    return [{ type: 'resync', revision: this.currentRevision, state: this.state() }];
  }

  private applyToState(event: ChangeEvent): void {
    switch (event.kind) {
      case 'workload':
        if (event.op === 'put') {
          this.workloads.set(event.key, { workload: event.value, revision: event.revision });
        } else {
          this.workloads.delete(event.key);
        }
        return;
      case 'policies':
        this.policies = { docs: event.value, revision: event.revision };
        return;
      case 'kv':
        this.kv.set(event.key, event.value);
        return;
    }
  }

  private enqueue(watcher: Watcher, event: WatchEvent): void {
    if (event.type === 'change' && event.revision <= watcher.after) return;
    watcher.after = event.revision;
    watcher.queue.push(event);
    if (watcher.scheduled) return;
    watcher.scheduled = true;
    queueMicrotask(() => this.flush(watcher));
  }

  private flush(watcher: Watcher): void {
    watcher.scheduled = false;
    while (watcher.active && watcher.queue.length > 0) {
      const batch = watcher.queue;
      const generation = watcher.generation;
      watcher.queue = [];
      for (const event of batch) {
        if (!watcher.active || watcher.generation !== generation) break;
        try {
          watcher.listener(event);
        } catch (err) {
          this.options.logger.error({ err, revision: event.revision }, 'registry watch listener threw');
        }
      }
    }
  }
}
