import { realClock, repeatAsync, sleep, type Clock } from '../core/clock.js';
import { ServiceError } from '../core/errors.js';
import type { CaKv, VersionedValue } from '../ca/index.js';
import type { Logger } from '../observability/logger.js';

/**
 * The single key older versions kept the whole deny-list in. Read-only now: its entries stay in
 * force until they expire, but nothing writes it again.
 */
export const DENIED_TOKENS_KEY = 'accord/tokens/denied';
/** Entries are spread over this many keys, so an update rewrites 1/64 of the list, not all of it. */
export const DENIED_SHARDS = 64;
const SYNC_MS = 1_000;
const CAS_ATTEMPTS = 20;

/** The KV key of shard `index` (0 ≤ index < DENIED_SHARDS). */
export function deniedShardKey(index: number): string {
  return `${DENIED_TOKENS_KEY}/${index}`;
}

/** FNV-1a over the UTF-16 code units: stable across versions and replicas, which must agree. */
export function deniedShardOf(id: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i += 1) {
    hash ^= id.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % DENIED_SHARDS;
}

interface WorkloadDenial {
  /** Every token of the workload issued at or before this (ms) is denied. */
  readonly before: number;
  /** Kept until then: every such token has expired by then. */
  readonly until: number;
}

/** One shard's entries, in the stored JSON shape `{"tokens": {jti: until}, "workloads": {id: {before, until}}}`. */
interface Shard {
  /** Token id (jti) → until when the entry is kept (the token has expired by then). */
  readonly tokens: Map<string, number>;
  readonly workloads: Map<string, WorkloadDenial>;
}

/** What became denied: ids that were not denied before (a workload also when more of its tokens are). */
export interface DenyListChange {
  readonly workloads: readonly string[];
  readonly tokens: readonly string[];
}

const emptyShard = (): Shard => ({ tokens: new Map(), workloads: new Map() });

/** A shard's entries that have not expired; a malformed document or entry reads as absent. */
function parse(text: string, now: number): Shard {
  const shard = emptyShard();
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return shard;
  }
  if (!isRecord(raw)) return shard;
  if (isRecord(raw.tokens)) {
    for (const [id, until] of Object.entries(raw.tokens)) if (typeof until === 'number' && until > now) shard.tokens.set(id, until);
  }
  if (isRecord(raw.workloads)) {
    for (const [id, entry] of Object.entries(raw.workloads)) {
      if (isRecord(entry) && typeof entry.before === 'number' && typeof entry.until === 'number' && entry.until > now) {
        shard.workloads.set(id, { before: entry.before, until: entry.until });
      }
    }
  }
  return shard;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function prunedCopy(shard: Shard, now: number): Shard {
  const copy = emptyShard();
  for (const [id, until] of shard.tokens) if (until > now) copy.tokens.set(id, until);
  for (const [id, entry] of shard.workloads) if (entry.until > now) copy.workloads.set(id, entry);
  return copy;
}

function serialize(shard: Shard): string {
  return JSON.stringify({ tokens: Object.fromEntries(shard.tokens), workloads: Object.fromEntries(shard.workloads) });
}

interface LoadedShard {
  readonly entries: Shard;
  /** The KV version these entries were read at; undefined: the key did not exist. */
  readonly version: number | undefined;
}

export interface TokenDenyListDeps {
  /** Time and timers; the real clock by default. */
  readonly clock?: Clock;
  readonly kv: CaKv;
  readonly logger: Logger;
  readonly now: () => number;
  /** Something became denied: on another replica (learnt at a sync) or on this one. Never called with nothing. */
  readonly onChange: (change: DenyListChange) => void;
}

/**
 * The deny-list of workload tokens: by token id (an operator denies one token) and by workload
 * (deregistration denies every token issued to it so far). Entries are kept only until the tokens
 * they name have expired. Checks are in memory; the list is re-read from the KV every second.
 *
 * Entries live in DENIED_SHARDS keys (a token by its id, a workload by its id): an update
 * compare-and-sets its shard only, and a sync parses only the shards whose version moved. The
 * legacy single key is read as one more, read-only, shard.
 */
export class TokenDenyList {
  /** Index DENIED_SHARDS is the legacy key. */
  private readonly shards: LoadedShard[] = Array.from({ length: DENIED_SHARDS + 1 }, () => ({ entries: emptyShard(), version: undefined }));
  private readonly keys: readonly string[] = [...Array.from({ length: DENIED_SHARDS }, (_, i) => deniedShardKey(i)), DENIED_TOKENS_KEY];
  private stopSync: () => void = () => undefined;
  private updating: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly deps: TokenDenyListDeps) {
    this.log = deps.logger.child({ component: 'token-denylist' });
    this.clock = deps.clock ?? realClock;
  }

  async start(): Promise<void> {
    // The first read tells no listener: nothing is served yet.
    await this.sync(false).catch((error: unknown) => this.log.warn({ err: error }, 'could not read the token deny-list; will retry'));
    this.stopSync = repeatAsync(this.clock, SYNC_MS, () => this.sync(), (error) => this.log.warn({ err: error }, 'token deny-list sync failed; will retry'));
  }

  stop(): void {
    this.stopSync();
  }

  /** Why a token is denied, or undefined. `issuedAt` in ms. */
  denial(claims: { readonly tokenId: string; readonly workloadId: string; readonly issuedAt: number }): string | undefined {
    if (this.tokenUntil(claims.tokenId) !== undefined) return `token "${claims.tokenId}" is denied`;
    const before = this.workloadBefore(claims.workloadId);
    if (before !== undefined && claims.issuedAt <= before) return `tokens of workload "${claims.workloadId}" are denied (deregistered)`;
    return undefined;
  }

  async denyToken(tokenId: string, until: number): Promise<void> {
    await this.update(deniedShardOf(tokenId), (shard) => {
      shard.tokens.set(tokenId, Math.max(until, shard.tokens.get(tokenId) ?? 0));
    });
    this.log.warn({ tokenId }, 'workload token denied');
  }

  async denyWorkload(workloadId: string, before: number, until: number): Promise<void> {
    await this.update(deniedShardOf(workloadId), (shard) => {
      shard.workloads.set(workloadId, { before, until });
    });
    this.log.info({ workloadId }, "workload's tokens denied");
  }

  /** The longest-kept entry for the token across its shard and the legacy key. */
  private tokenUntil(tokenId: string): number | undefined {
    const own = this.shards[deniedShardOf(tokenId)]!.entries.tokens.get(tokenId);
    const legacy = this.shards[DENIED_SHARDS]!.entries.tokens.get(tokenId);
    return own === undefined ? legacy : legacy === undefined ? own : Math.max(own, legacy);
  }

  /** Up to when the workload's tokens are denied (issue time, ms), across its shard and the legacy key. */
  private workloadBefore(workloadId: string): number | undefined {
    const own = this.shards[deniedShardOf(workloadId)]!.entries.workloads.get(workloadId)?.before;
    const legacy = this.shards[DENIED_SHARDS]!.entries.workloads.get(workloadId)?.before;
    return own === undefined ? legacy : legacy === undefined ? own : Math.max(own, legacy);
  }

  /**
   * Changes on this replica run one after another (concurrent deregistrations would otherwise race
   * each other on a shared key); a race with another replica is retried after a short, jittered
   * pause.
   */
  private update(index: number, change: (shard: Shard) => void): Promise<void> {
    const next = this.updating.then(() => this.updateNow(index, change));
    this.updating = next.catch(() => undefined);
    return next;
  }

  private async updateNow(index: number, change: (shard: Shard) => void): Promise<void> {
    const key = this.keys[index]!;
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt += 1) {
      const stored = await this.deps.kv.kvGet(key);
      const now = this.deps.now();
      const known = this.shards[index]!;
      // The shard as last read or written here is the stored one: copying it is cheaper than parsing.
      const next = stored === undefined ? emptyShard() : stored.version === known.version ? prunedCopy(known.entries, now) : parse(stored.value, now);
      change(next);
      if (await this.deps.kv.kvPutIfVersion(key, serialize(next), stored?.version)) {
        this.apply(new Map([[index, { entries: next, version: (stored?.version ?? 0) + 1 }]]), true);
        return;
      }
      await sleep(this.clock, 5 + Math.floor(Math.random() * 20 * (attempt + 1)));
    }
    throw new ServiceError('UNAVAILABLE', 'could not record the denied token: the shared deny-list kept changing; try again');
  }

  /**
   * Reads every shard key at once (the Redis store auto-pipelines them into one round trip) and
   * parses only those whose version moved.
   */
  private async sync(notify = true): Promise<void> {
    const stored: (VersionedValue | undefined)[] = await Promise.all(this.keys.map((key) => this.deps.kv.kvGet(key)));
    const now = this.deps.now();
    const changed = new Map<number, LoadedShard>();
    stored.forEach((entry, index) => {
      if (entry !== undefined && entry.version > (this.shards[index]!.version ?? 0)) changed.set(index, { entries: parse(entry.value, now), version: entry.version });
    });
    if (changed.size > 0) this.apply(changed, notify);
  }

  /**
   * Replaces the given shards and tells the listener what became denied. A sync and an update may
   * overlap: a shard read at an older version than the one held (versions only grow) is dropped.
   */
  private apply(read: ReadonlyMap<number, LoadedShard>, notify: boolean): void {
    const changed = new Map([...read].filter(([index, shard]) => (shard.version ?? 0) > (this.shards[index]!.version ?? 0)));
    if (!notify) {
      for (const [index, shard] of changed) this.shards[index] = shard;
      return;
    }
    const tokens = new Map<string, boolean>();
    const workloads = new Map<string, number | undefined>();
    for (const [index, shard] of changed) {
      const old = this.shards[index]!.entries;
      for (const id of shard.entries.tokens.keys()) if (!old.tokens.has(id) && !tokens.has(id)) tokens.set(id, this.tokenUntil(id) !== undefined);
      for (const [id, entry] of shard.entries.workloads) {
        if (entry.before > (old.workloads.get(id)?.before ?? -Infinity) && !workloads.has(id)) workloads.set(id, this.workloadBefore(id));
      }
    }
    for (const [index, shard] of changed) this.shards[index] = shard;
    const change: DenyListChange = {
      tokens: [...tokens].filter(([, wasDenied]) => !wasDenied).map(([id]) => id),
      workloads: [...workloads].filter(([id, was]) => (this.workloadBefore(id) ?? -Infinity) > (was ?? -Infinity)).map(([id]) => id),
    };
    if (change.tokens.length > 0 || change.workloads.length > 0) this.deps.onChange(change);
  }
}
