/**
 * The registry's port to storage. Two implementations (memory, Redis) pass one conformance suite.
 *
 * Every change bumps one store-wide revision and is published, in order, on the change feed.
 * Lease renewals are not changes: they move a deadline and bump nothing.
 */
import type { Service, Workload } from '../core/workload.js';

export interface StoredWorkload {
  readonly workload: Workload;
  /** Store revision of the workload's last change: what `expectedRevision` compares with. */
  readonly revision: number;
}

export interface PolicyRecord {
  /** Validated policy documents as plain JSON, stored and replaced as one set. */
  readonly docs: readonly unknown[];
  /** Revision of the last `putPolicies`; 0 if policies were never written. */
  readonly revision: number;
}

export interface KvEntry {
  readonly value: string;
  /** Starts at 1 when the key is created, +1 on every write. */
  readonly version: number;
}

export interface PutWorkloadOptions {
  /** 0: the workload must not exist. n > 0: it must be at revision n. Absent: unconditional. */
  readonly expectedRevision?: number;
  /** Base of the lease deadline (`now + leaseMs`); defaults to the store's clock. */
  readonly now?: number;
}

export interface DeleteWorkloadOptions {
  /** The workload must be at this revision. Absent: unconditional. */
  readonly expectedRevision?: number;
}

export interface ReapResult {
  /** False when another replica holds the reaper lock, or while this one is joining (then nothing was reaped here). */
  readonly leader: boolean;
  readonly expired: readonly string[];
  /** True while this replica is joining: it waits `absentAfterMs` to learn whether any replica was up before it. */
  readonly joining?: boolean;
  /** Set by the call that found no replica had been up before this one joined: how many leases it moved out. */
  readonly extended?: number;
}

/**
 * How a reaping replica takes part in the control plane's presence, so that time during which no
 * replica was up (all stopped, or the store unreachable) never counts against a lease.
 *
 * Each call is this replica's heartbeat. A replica whose previous heartbeat is older than
 * `absentAfterMs` (or that has none: it just started), or that says `rejoin`, is *joining*: it
 * reaps nothing for `absentAfterMs`. Then it decides once: if no other replica was present both
 * before and after it joined, nothing could renew leases before it came, so every leased workload
 * gets a deadline of at least `now + leaseMs + reconnectWindowMs` — a full lease plus time for its
 * proxy to reconnect. Deadlines and heartbeats use the callers' clocks (keep replicas NTP-synced).
 */
export interface ReapPresence {
  readonly absentAfterMs: number;
  readonly reconnectWindowMs: number;
  /** This replica could not reach the store since its last successful call: start joining again. */
  readonly rejoin?: boolean;
}

export type ChangeEvent =
  | {
      readonly type: 'change';
      readonly revision: number;
      readonly kind: 'workload';
      readonly op: 'put';
      readonly key: string;
      readonly value: Workload;
    }
  | {
      readonly type: 'change';
      readonly revision: number;
      readonly kind: 'workload';
      readonly op: 'delete';
      readonly key: string;
      /** `expired`: removed by the lease reaper. */
      readonly reason: 'deleted' | 'expired';
    }
  | {
      readonly type: 'change';
      readonly revision: number;
      readonly kind: 'policies';
      readonly op: 'put';
      readonly key: typeof POLICIES_KEY;
      readonly value: readonly unknown[];
    }
  | {
      readonly type: 'change';
      readonly revision: number;
      readonly kind: 'kv';
      readonly op: 'put';
      readonly key: string;
      readonly value: KvEntry;
    };

export const POLICIES_KEY = 'policies';

/** The whole store at one revision. */
export interface StoreState {
  readonly revision: number;
  readonly workloads: readonly StoredWorkload[];
  readonly policies: PolicyRecord;
  readonly kv: Readonly<Record<string, KvEntry>>;
}

/** Sent instead of changes when the watcher cannot be given a gap-free sequence. */
export interface ResyncEvent {
  readonly type: 'resync';
  readonly revision: number;
  readonly state: StoreState;
}

export type WatchEvent = ChangeEvent | ResyncEvent;
export type WatchListener = (event: WatchEvent) => void;
export type Unsubscribe = () => void;

export interface Store {
  getWorkload(id: string): Promise<StoredWorkload | undefined>;
  listWorkloads(): Promise<readonly StoredWorkload[]>;
  /** Services derived from the workloads: a service exists while it has workloads. */
  listServices(): Promise<readonly Service[]>;
  /** Creates or replaces a workload; returns the new store revision. */
  putWorkload(workload: Workload, options?: PutWorkloadOptions): Promise<number>;
  /** Throws NotFoundError if absent; returns the new store revision. */
  deleteWorkload(id: string, options?: DeleteWorkloadOptions): Promise<number>;
  /** Moves the lease deadline to `now + leaseMs`; returns it, or undefined for lease-less workloads. */
  renewLease(id: string, now: number): Promise<number | undefined>;
  /**
   * Removes workloads whose deadline is ≤ now (only on the replica holding the reaper lock). With
   * `presence`, the call is also this replica's heartbeat (see ReapPresence); without it, plain
   * deadlines.
   */
  reapExpired(now: number, presence?: ReapPresence): Promise<ReapResult>;

  putPolicies(docs: readonly unknown[], expectedRevision?: number): Promise<number>;
  getPolicies(): Promise<PolicyRecord>;

  kvGet(key: string): Promise<KvEntry | undefined>;
  /** Writes only if the key is at `expectedVersion` (undefined: must not exist). */
  kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean>;

  /**
   * Ephemeral per-replica reports (e.g. proxy sync state): each publish replaces the replica's
   * previous one of that kind, and it is gone `ttlMs` later unless published again. Not part of
   * the change feed or the revision.
   */
  putReport(kind: string, replica: string, value: string, ttlMs: number): Promise<void>;
  /** Every unexpired report of `kind`, one per replica. */
  listReports(kind: string): Promise<readonly string[]>;

  revision(): Promise<number>;
  /**
   * Delivers, in order and asynchronously, every change after `fromRevision`; when that history is
   * no longer available (or after a reconnect) a `resync` with the full state comes first.
   */
  watch(fromRevision: number, listener: WatchListener): Unsubscribe;
  close(): Promise<void>;
}

