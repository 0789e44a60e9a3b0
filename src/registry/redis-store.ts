/**
 * The Redis-backed store (`accord serve --redis URL`), shared by every replica. Each change is one
 * Lua script (data + revision + feed entry, atomically). Reads of single items go to Redis; each
 * replica's watchers are served from a local StateFeed kept current by a RedisFeedFollower.
 * While Redis is unreachable every operation fails fast with StoreUnavailableError.
 */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../core/clock.js';
import type { Service, Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { ConflictError, NotFoundError, StoreUnavailableError, ValidationError } from './errors.js';
import { decodeKv, decodePolicies, decodeWorkload, scriptReply, type ScriptValue } from './redis-codec.js';
import {
  createRedisClient,
  describeTarget,
  isClusterTarget,
  parseRedisUrl,
  type RedisClient,
  type RedisTarget,
} from './redis-connection.js';
import { RedisFeedFollower } from './redis-feed-follower.js';
import type { RegistryMetrics } from './metrics.js';
import { LuaScript, toRegistryError } from './redis-lua.js';
import {
  DELETE_WORKLOAD,
  GUARDED_READ,
  KV_PUT_IF_VERSION,
  PUT_POLICIES,
  PUT_WORKLOAD,
  REAP_EXPIRED,
  REDIS_KEY_NAMES,
  RELEASE_REAPER_LOCK,
  RENEW_LEASE,
} from './redis-scripts.js';
import { deriveServices } from './services.js';
import { DEFAULT_HISTORY_LIMIT, StateFeed } from './state-feed.js';
import {
  POLICIES_KEY,
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

export const DEFAULT_KEY_PREFIX = '{accord}:';

export interface RedisStoreOptions {
  readonly target: RedisTarget;
  /** Prepended to every key. Keep a `{hash tag}` in it for Redis Cluster (default `{accord}:`). */
  readonly keyPrefix?: string;
  readonly logger: Logger;
  readonly clock?: Clock;
  readonly commandTimeoutMs?: number;
  /** Approximate number of feed entries Redis keeps (XADD MAXLEN ~). */
  readonly feedMaxLen?: number;
  /** Changes kept locally for watchers resuming from an older revision. */
  readonly historyLimit?: number;
  readonly tailBlockMs?: number;
  readonly tailBatch?: number;
  readonly reaperLockTtlMs?: number;
  readonly reapBatch?: number;
  /** Exported on /metrics when given (one store per metrics registry). */
  readonly metrics?: RegistryMetrics;
}

const scripts = {
  putWorkload: new LuaScript('put_workload', PUT_WORKLOAD),
  deleteWorkload: new LuaScript('delete_workload', DELETE_WORKLOAD),
  renewLease: new LuaScript('renew_lease', RENEW_LEASE),
  reapExpired: new LuaScript('reap_expired', REAP_EXPIRED),
  releaseReaperLock: new LuaScript('release_reaper_lock', RELEASE_REAPER_LOCK),
  putPolicies: new LuaScript('put_policies', PUT_POLICIES),
  kvPutIfVersion: new LuaScript('kv_put_if_version', KV_PUT_IF_VERSION),
  read: new LuaScript('guarded_read', GUARDED_READ),
};

type KeyName = (typeof REDIS_KEY_NAMES)[number];

function resolveTarget(target: RedisTarget): Exclude<RedisTarget, string> | string {
  if (typeof target !== 'string') return target;
  try {
    return parseRedisUrl(target);
  } catch (err) {
    throw new ValidationError([{ field: 'target', message: err instanceof Error ? err.message : String(err) }]);
  }
}

export class RedisStore implements Store {
  private readonly keys: readonly string[];
  private readonly key: Readonly<Record<KeyName, string>>;
  private readonly feed: StateFeed;
  private readonly follower: RedisFeedFollower;
  private readonly clock: Clock;
  private readonly lockToken = randomBytes(12).toString('hex');
  private readonly feedMaxLen: number;
  private readonly reaperLockTtlMs: number;
  private readonly reapBatch: number;
  private closed = false;
  private readonly prefix: string;

  /** Connects, syncs the local replica with Redis, and starts following the feed. */
  static async connect(options: RedisStoreOptions): Promise<RedisStore> {
    const target = resolveTarget(options.target);
    const prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    if (isClusterTarget(target) && !/\{[^}]+\}/.test(prefix)) {
      throw new ValidationError([{ field: 'keyPrefix', message: 'must contain a {hash tag} on Redis Cluster' }]);
    }
    const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
    const tailBlockMs = options.tailBlockMs ?? 1000;
    const client = createRedisClient(target, { commandTimeoutMs, connectionName: 'accord-registry', autoPipelining: true });
    const tailClient = createRedisClient(target, {
      commandTimeoutMs: undefined,
      blockingTimeoutMs: tailBlockMs,
      connectionName: 'accord-registry-feed',
    });
    // Background reconnects report through `error` events (without a listener Node would throw);
    // operations and the feed follower report outages themselves, so these are debug noise.
    let lastConnectionError: string | undefined;
    for (const c of [client, tailClient]) {
      c.on('error', (err: unknown) => {
        lastConnectionError = err instanceof Error ? err.message : String(err);
        options.logger.debug({ err }, 'registry redis connection error');
      });
    }
    const store = new RedisStore(options, prefix, client, tailClient, tailBlockMs);
    try {
      await client.connect();
      await store.follower.resync();
    } catch (err) {
      client.disconnect();
      tailClient.disconnect();
      throw new StoreUnavailableError(
        `cannot reach the registry's Redis at ${describeTarget(target)}: ${err instanceof Error ? err.message : String(err)}` +
          // The cause is often only in the connection's error event (e.g. NOAUTH: a missing or wrong password).
          (lastConnectionError === undefined ? '' : ` (${lastConnectionError.slice(0, 200)})`),
        { cause: err },
      );
    }
    store.follower.start();
    options.logger.info({ redis: describeTarget(target), prefix, revision: store.feed.revision }, 'registry connected to Redis');
    return store;
  }

  private constructor(
    options: RedisStoreOptions,
    prefix: string,
    private readonly client: RedisClient,
    private readonly tailClient: RedisClient,
    tailBlockMs: number,
  ) {
    this.clock = options.clock ?? realClock;
    this.feedMaxLen = options.feedMaxLen ?? 10_000;
    this.key = Object.fromEntries(REDIS_KEY_NAMES.map((name) => [name, prefix + name])) as Record<KeyName, string>;
    this.keys = REDIS_KEY_NAMES.map((name) => this.key[name]);
    this.reaperLockTtlMs = options.reaperLockTtlMs ?? 10_000;
    this.reapBatch = options.reapBatch ?? 1000;
    this.prefix = prefix;
    this.feed = new StateFeed({ historyLimit: options.historyLimit ?? DEFAULT_HISTORY_LIMIT, logger: options.logger });
    this.follower = new RedisFeedFollower({
      client,
      tailClient,
      keys: this.keys,
      feedKey: this.key.feed,
      feed: this.feed,
      logger: options.logger,
      clock: this.clock,
      feedMaxLen: this.feedMaxLen,
      blockMs: tailBlockMs,
      batch: options.tailBatch ?? 1000,
      metrics: options.metrics,
    });
  }

  /** True while both the command and the feed connections work. */
  get healthy(): boolean {
    return !this.closed && this.client.status === 'ready' && this.follower.healthy;
  }

  /** The revision this replica's local copy (and its watchers) has reached. */
  get localRevision(): number {
    return this.feed.revision;
  }

  async getWorkload(id: string): Promise<StoredWorkload | undefined> {
    const record = await this.read('workload', id);
    return record === undefined ? undefined : decodeWorkload(record);
  }

  async listWorkloads(): Promise<readonly StoredWorkload[]> {
    const rest = await this.script('list workloads', scripts.read, ['workloads', '']);
    const records = rest[0];
    return Array.isArray(records) ? records.map((r) => decodeWorkload(String(r))) : [];
  }

  async listServices(): Promise<readonly Service[]> {
    const workloads = await this.listWorkloads();
    return [...deriveServices(workloads.map((s) => s.workload)).values()];
  }

  async putWorkload(workload: Workload, options: PutWorkloadOptions = {}): Promise<number> {
    const errors = validateWorkload(workload);
    if (errors.length > 0) throw new ValidationError(errors);
    const deadline = workload.leaseMs === undefined ? '' : (options.now ?? this.clock.now()) + workload.leaseMs;
    const rest = await this.script('put workload', scripts.putWorkload, [
      workload.id,
      JSON.stringify(workload),
      options.expectedRevision ?? '',
      deadline,
    ], (status, reply) => {
      if (status === 'CONFLICT') throw new ConflictError('workload', workload.id, options.expectedRevision ?? 0, Number(reply[0]));
    });
    return Number(rest[0]);
  }

  async deleteWorkload(id: string, options: DeleteWorkloadOptions = {}): Promise<number> {
    const rest = await this.script('delete workload', scripts.deleteWorkload, [id, options.expectedRevision ?? ''], (status, reply) => {
      if (status === 'NOTFOUND') throw new NotFoundError('workload', id);
      if (status === 'CONFLICT') throw new ConflictError('workload', id, options.expectedRevision ?? 0, Number(reply[0]));
    });
    return Number(rest[0]);
  }

  async renewLease(id: string, now: number): Promise<number | undefined> {
    const rest = await this.script('renew lease', scripts.renewLease, [id, now], (status) => {
      if (status === 'NOTFOUND') throw new NotFoundError('workload', id);
    });
    const deadline = Number(rest[0]);
    return deadline < 0 ? undefined : deadline;
  }

  async reapExpired(now: number, presence?: ReapPresence): Promise<ReapResult> {
    let status = '';
    const rest = await this.script(
      'reap leases',
      scripts.reapExpired,
      [
        Math.floor(now),
        this.lockToken,
        this.reaperLockTtlMs,
        this.reapBatch,
        presence ? Math.ceil(presence.absentAfterMs) : '',
        presence ? Math.ceil(presence.reconnectWindowMs) : '',
        presence?.rejoin ? '1' : '0',
      ],
      (replyStatus) => {
        status = replyStatus;
      },
    );
    if (status === 'JOINING') return { leader: false, expired: [], joining: true };
    const extended = Number(rest[0]);
    const result = { leader: status === 'LEADER', expired: rest.slice(1).map(String) };
    return extended >= 0 ? { ...result, extended } : result;
  }

  async putPolicies(docs: readonly unknown[], expectedRevision?: number): Promise<number> {
    const rest = await this.script('put policies', scripts.putPolicies, [JSON.stringify(docs), expectedRevision ?? ''], (status, reply) => {
      if (status === 'CONFLICT') throw new ConflictError('policies', POLICIES_KEY, expectedRevision ?? 0, Number(reply[0]));
    });
    return Number(rest[0]);
  }

  async getPolicies(): Promise<PolicyRecord> {
    const record = await this.read('policies', '');
    return record === undefined ? { docs: [], revision: 0 } : decodePolicies(record);
  }

  async kvGet(key: string): Promise<KvEntry | undefined> {
    const record = await this.read('kv', key);
    return record === undefined ? undefined : decodeKv(record);
  }

  async kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean> {
    let written = true;
    await this.script('kv put', scripts.kvPutIfVersion, [key, value, expectedVersion ?? ''], (status) => {
      if (status === 'CONFLICT') written = false;
    });
    return written;
  }

  /**
   * A report is a key with a TTL (`<prefix>report:<kind>:<replica>`), indexed by a sorted set
   * scored by expiry; both share the prefix's hash tag, so this also works on Redis Cluster.
   */
  async putReport(kind: string, replica: string, value: string, ttlMs: number): Promise<void> {
    const now = this.clock.now();
    const index = `${this.prefix}reports:${kind}`;
    await this.command('put report', async () => {
      await this.client.set(`${this.prefix}report:${kind}:${replica}`, value, 'PX', ttlMs);
      await this.client.zadd(index, now + ttlMs, replica);
      await this.client.zremrangebyscore(index, '-inf', now);
      // The index lives as long as its longest-lived report (replicas may publish with different TTLs).
      const [, latest] = await this.client.zrange(index, '-1', '-1', 'WITHSCORES');
      if (latest !== undefined) await this.client.pexpireat(index, Math.ceil(Number(latest)));
    });
  }

  async listReports(kind: string): Promise<readonly string[]> {
    const now = this.clock.now();
    return this.command('list reports', async () => {
      const replicas = await this.client.zrangebyscore(`${this.prefix}reports:${kind}`, now, '+inf');
      if (replicas.length === 0) return [];
      const values = await this.client.mget(...replicas.map((replica) => `${this.prefix}report:${kind}:${replica}`));
      return values.filter((value): value is string => typeof value === 'string');
    });
  }

  async revision(): Promise<number> {
    return Number((await this.read('revision', '')) ?? '0');
  }

  watch(fromRevision: number, listener: WatchListener): Unsubscribe {
    return this.feed.watch(fromRevision, listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    try {
      await scripts.releaseReaperLock.run(this.client, this.keys, ['', this.feedMaxLen, this.lockToken]);
    } catch {
      // Best effort: the lock expires by itself.
    }
    this.closed = true;
    await this.follower.stop();
    this.feed.closeAllWatchers();
    this.client.disconnect();
    this.tailClient.disconnect();
  }

  private async read(what: 'workload' | 'policies' | 'revision' | 'kv', key: string): Promise<string | undefined> {
    const rest = await this.script(`read ${what}`, scripts.read, [what, key]);
    return rest.length === 0 ? undefined : String(rest[0]);
  }

  private async command<T>(operation: string, run: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('registry store is closed');
    try {
      return await run();
    } catch (err) {
      throw toRegistryError(err, operation);
    }
  }

  /**
   * Runs a guarded script. An EPOCH reply means Redis lost its data (or was restored by another
   * replica) since we last synced: resync (which restores if needed) and retry once.
   */
  private async script(
    operation: string,
    script: LuaScript,
    args: readonly (string | number)[],
    onStatus?: (status: string, rest: readonly ScriptValue[]) => void,
  ): Promise<readonly ScriptValue[]> {
    for (let attempt = 0; ; attempt++) {
      const reply = await this.command(operation, () =>
        script.run(this.client, this.keys, [this.follower.knownEpoch, this.feedMaxLen, ...args]),
      );
      const { status, rest } = scriptReply(reply);
      if (status === 'EPOCH') {
        if (attempt > 0) throw new StoreUnavailableError(`registry store changed under ${operation}; retry`);
        await this.command('resync', () => this.follower.resync());
        continue;
      }
      onStatus?.(status, rest);
      return rest;
    }
  }
}
