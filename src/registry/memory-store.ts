/**
 * The embedded default store: everything in process memory, lost on restart.
 * Single replica, so it is always the lease-reaper leader.
 */
import type { Service, Workload } from '../core/workload.js';
import { realClock, type Clock } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';
import { ConflictError, NotFoundError, StoreUnavailableError, ValidationError } from './errors.js';
import { deriveServices } from './services.js';
import { DEFAULT_HISTORY_LIMIT, StateFeed } from './state-feed.js';
import {
  POLICIES_KEY,
  type ChangeEvent,
  type DeleteWorkloadOptions,
  type KvEntry,
  type PolicyRecord,
  type PutWorkloadOptions,
  type ReapPresence,
  type ReapResult,
  type Store,
  type StoredWorkload,
  type Unsubscribe,
  type WatchListener,
} from './store.js';
import { validateWorkload } from './workload-validation.js';

export interface MemoryStoreOptions {
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Changes kept for watchers resuming from an older revision (default 10,000). */
  readonly historyLimit?: number;
}

export class MemoryStore implements Store {
  private readonly feed: StateFeed;
  private readonly clock: Clock;
  /** Lease deadlines (ms) by workload id. */
  private readonly deadlines = new Map<string, number>();
  /** This (only) replica's presence: see ReapPresence. */
  private presence: { joinedAt: number; lastBeat: number; decided: boolean } | undefined;
  private closed = false;
  /** Reports by kind, then replica: value and expiry (ms). */
  private readonly reports = new Map<string, Map<string, { value: string; expiresAt: number }>>();

  constructor(options: MemoryStoreOptions) {
    this.clock = options.clock ?? realClock;
    this.feed = new StateFeed({ historyLimit: options.historyLimit ?? DEFAULT_HISTORY_LIMIT, logger: options.logger });
  }

  async getWorkload(id: string): Promise<StoredWorkload | undefined> {
    this.assertOpen();
    return this.feed.getWorkload(id);
  }

  async listWorkloads(): Promise<readonly StoredWorkload[]> {
    this.assertOpen();
    return this.feed.listWorkloads();
  }

  async listServices(): Promise<readonly Service[]> {
    this.assertOpen();
    return [...deriveServices(this.feed.listWorkloads().map((s) => s.workload)).values()];
  }

  async putWorkload(workload: Workload, options: PutWorkloadOptions = {}): Promise<number> {
    this.assertOpen();
    const errors = validateWorkload(workload);
    if (errors.length > 0) throw new ValidationError(errors);
    const current = this.feed.getWorkload(workload.id);
    checkExpected('workload', workload.id, options.expectedRevision, current?.revision ?? 0);
    const revision = this.next({
      type: 'change',
      revision: this.feed.revision + 1,
      kind: 'workload',
      op: 'put',
      key: workload.id,
      value: structuredClone(workload),
    });
    if (workload.leaseMs === undefined) this.deadlines.delete(workload.id);
    else this.deadlines.set(workload.id, (options.now ?? this.clock.now()) + workload.leaseMs);
    return revision;
  }

  async deleteWorkload(id: string, options: DeleteWorkloadOptions = {}): Promise<number> {
    this.assertOpen();
    const current = this.feed.getWorkload(id);
    if (current === undefined) throw new NotFoundError('workload', id);
    checkExpected('workload', id, options.expectedRevision, current.revision);
    this.deadlines.delete(id);
    return this.next({
      type: 'change',
      revision: this.feed.revision + 1,
      kind: 'workload',
      op: 'delete',
      key: id,
      reason: 'deleted',
    });
  }

  async renewLease(id: string, now: number): Promise<number | undefined> {
    this.assertOpen();
    const current = this.feed.getWorkload(id);
    if (current === undefined) throw new NotFoundError('workload', id);
    if (current.workload.leaseMs === undefined) return undefined;
    const deadline = now + current.workload.leaseMs;
    this.deadlines.set(id, deadline);
    return deadline;
  }

  async reapExpired(now: number, presence?: ReapPresence): Promise<ReapResult> {
    this.assertOpen();
    let extended: number | undefined;
    if (presence) {
      const previous = this.presence;
      const away = previous === undefined || presence.rejoin === true || now - previous.lastBeat > presence.absentAfterMs;
      const joinedAt = away ? now : previous.joinedAt;
      let decided = away ? false : previous.decided;
      if (!decided && now - joinedAt >= presence.absentAfterMs) {
        // The only replica was away: nothing could renew a lease meanwhile.
        extended = this.extendLeases(now, presence.reconnectWindowMs);
        decided = true;
      }
      this.presence = { joinedAt, lastBeat: now, decided };
      if (!decided) return { leader: false, expired: [], joining: true };
    }
    const expired = [...this.deadlines]
      .filter(([, deadline]) => deadline <= now)
      .sort((a, b) => a[1] - b[1])
      .map(([id]) => id);
    for (const id of expired) {
      this.deadlines.delete(id);
      this.next({ type: 'change', revision: this.feed.revision + 1, kind: 'workload', op: 'delete', key: id, reason: 'expired' });
    }
    return extended === undefined ? { leader: true, expired } : { leader: true, expired, extended };
  }

  /** Every lease ends no sooner than a full lease plus the reconnect window from now. */
  private extendLeases(now: number, reconnectWindowMs: number): number {
    let extended = 0;
    for (const [id, deadline] of this.deadlines) {
      const leaseMs = this.feed.getWorkload(id)?.workload.leaseMs;
      if (leaseMs === undefined) continue;
      const floor = now + leaseMs + reconnectWindowMs;
      if (deadline < floor) this.deadlines.set(id, floor);
      extended += 1;
    }
    return extended;
  }

  async putPolicies(docs: readonly unknown[], expectedRevision?: number): Promise<number> {
    this.assertOpen();
    checkExpected('policies', POLICIES_KEY, expectedRevision, this.feed.getPolicies().revision);
    return this.next({
      type: 'change',
      revision: this.feed.revision + 1,
      kind: 'policies',
      op: 'put',
      key: POLICIES_KEY,
      value: structuredClone(docs),
    });
  }

  async getPolicies(): Promise<PolicyRecord> {
    this.assertOpen();
    return this.feed.getPolicies();
  }

  async kvGet(key: string): Promise<KvEntry | undefined> {
    this.assertOpen();
    return this.feed.kvGet(key);
  }

  async kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean> {
    this.assertOpen();
    const current = this.feed.kvGet(key);
    if (current?.version !== expectedVersion) return false;
    this.next({
      type: 'change',
      revision: this.feed.revision + 1,
      kind: 'kv',
      op: 'put',
      key,
      value: { value, version: (current?.version ?? 0) + 1 },
    });
    return true;
  }

  async putReport(kind: string, replica: string, value: string, ttlMs: number): Promise<void> {
    this.assertOpen();
    let byReplica = this.reports.get(kind);
    if (!byReplica) this.reports.set(kind, (byReplica = new Map()));
    byReplica.set(replica, { value, expiresAt: this.clock.now() + ttlMs });
  }

  async listReports(kind: string): Promise<readonly string[]> {
    this.assertOpen();
    const byReplica = this.reports.get(kind);
    if (!byReplica) return [];
    const now = this.clock.now();
    const live: string[] = [];
    for (const [replica, report] of byReplica) {
      if (report.expiresAt <= now) byReplica.delete(replica);
      else live.push(report.value);
    }
    return live;
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.feed.revision;
  }

  watch(fromRevision: number, listener: WatchListener): Unsubscribe {
    return this.feed.watch(fromRevision, listener);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.feed.closeAllWatchers();
  }

  private next(event: ChangeEvent): number {
    this.feed.apply(event);
    return event.revision;
  }

  private assertOpen(): void {
    if (this.closed) throw new StoreUnavailableError('memory store is closed');
  }
}

export function checkExpected(
  kind: 'workload' | 'policies',
  key: string,
  expected: number | undefined,
  actual: number,
): void {
  if (expected !== undefined && expected !== actual) throw new ConflictError(kind, key, expected, actual);
}
