/**
 * Tails the Redis change feed into a replica's StateFeed on a dedicated connection
 * (XREAD BLOCK), and resyncs fully (one atomic snapshot) at start, after a gap (entries trimmed
 * before we read them), after any connection error, and when told the store was restored.
 *
 * Redis restarted empty: detected at resync because the store's epoch is gone or different (or
 * its revision went backwards). The follower then keeps its last state, logs an error, and
 * re-seeds Redis from that state (RESTORE: once per lost epoch across all replicas; writes made
 * since the loss win). Only then does it reset local watchers to the store's new state.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import { decodeFeedEntry, decodeSnapshot, scriptReply, type SnapshotReply } from './redis-codec.js';
import type { RedisClient } from './redis-connection.js';
import { LuaScript, toRegistryError } from './redis-lua.js';
import { INIT_EPOCH, READ_SNAPSHOT, RESTORE } from './redis-scripts.js';
import type { RegistryMetrics } from './metrics.js';
import type { StateFeed } from './state-feed.js';
import type { Clock } from '../core/clock.js';

const readSnapshot = new LuaScript('read_snapshot', READ_SNAPSHOT);
const restore = new LuaScript('restore', RESTORE);
const initEpoch = new LuaScript('init_epoch', INIT_EPOCH);

export interface FeedFollowerOptions {
  readonly client: RedisClient;
  readonly tailClient: RedisClient;
  readonly keys: readonly string[];
  readonly feedKey: string;
  readonly feed: StateFeed;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly feedMaxLen: number;
  readonly blockMs: number;
  readonly batch: number;
  readonly metrics?: RegistryMetrics;
}

export function newEpoch(): string {
  return randomBytes(8).toString('hex');
}

export class RedisFeedFollower {
  private epoch: string | undefined;
  private lastId = '0-0';
  private running = false;
  private needResync = true;
  private resyncing: Promise<void> | undefined;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private failures = 0;
  private stopped = false;
  /** Settle the waits in progress with undefined on stop(): a blocked XREAD is abandoned rather than awaited (Cluster may retry it). */
  private readonly abandons = new Set<() => void>();

  constructor(private readonly options: FeedFollowerOptions) {}

  /** The store epoch this replica last synced with ('' before the first sync). */
  get knownEpoch(): string {
    return this.epoch ?? '';
  }

  /** Whether the last tail read succeeded (false while Redis is unreachable). */
  get healthy(): boolean {
    return this.failures === 0 && !this.needResync;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    // Whatever happened while the feed connection was down, only a full read is safe afterwards.
    this.options.tailClient.on('close', () => {
      this.needResync = true;
    });
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    for (const abandon of this.abandons) abandon();
    this.abandons.clear();
    this.wake?.();
    this.options.tailClient.disconnect();
    await this.loop;
  }

  /** Reads the whole store atomically and resets the local replica to it (deduplicated). */
  resync(): Promise<void> {
    this.resyncing ??= this.doResync().finally(() => {
      this.resyncing = undefined;
    });
    return this.resyncing;
  }

  private async doResync(): Promise<void> {
    let snapshot = await this.readSnapshot();
    const local = this.options.feed;
    const lostEpoch = this.epoch !== undefined && snapshot.epoch !== this.epoch;
    if (lostEpoch || (this.epoch !== undefined && snapshot.state.revision < local.revision)) {
      this.options.logger.error(
        {
          knownEpoch: this.epoch,
          storeEpoch: snapshot.epoch,
          knownRevision: local.revision,
          storeRevision: snapshot.state.revision,
        },
        'registry store lost its data (Redis restarted empty?); keeping the last known state and restoring it',
      );
      if (lostEpoch) {
        await this.restoreFromLocal();
        snapshot = await this.readSnapshot();
      }
    }
    if (snapshot.epoch === '') {
      await initEpoch.run(this.options.client, this.options.keys, ['', this.options.feedMaxLen, newEpoch()]);
      snapshot = await this.readSnapshot();
    }
    this.epoch = snapshot.epoch;
    this.lastId = snapshot.lastId;
    this.needResync = false;
    local.reset(snapshot.state);
    this.options.metrics?.resyncs.inc();
    this.options.metrics?.localRevision.set(local.revision);
  }

  private async readSnapshot(): Promise<SnapshotReply> {
    const reply = await readSnapshot.run(this.options.client, this.options.keys, [this.knownEpoch, this.options.feedMaxLen]);
    return decodeSnapshot(reply);
  }

  private async restoreFromLocal(): Promise<void> {
    const state = this.options.feed.state();
    const now = this.options.clock.now();
    const args: (string | number)[] = [
      this.knownEpoch,
      this.options.feedMaxLen,
      newEpoch(),
      state.revision,
      state.policies.revision === 0 ? '' : JSON.stringify(state.policies.docs),
      state.workloads.length,
    ];
    for (const { workload } of state.workloads) {
      args.push(workload.id, JSON.stringify(workload), workload.leaseMs === undefined ? '' : now + workload.leaseMs);
    }
    for (const [key, entry] of Object.entries(state.kv)) args.push(key, entry.value, entry.version);
    const { status, rest } = scriptReply(await restore.run(this.options.client, this.options.keys, args));
    this.options.metrics?.restores.inc({ result: status.toLowerCase() });
    this.options.logger.warn(
      { status, epoch: rest[0], workloads: state.workloads.length, kvKeys: Object.keys(state.kv).length },
      status === 'RESTORED'
        ? 'registry store re-seeded from this replica’s last known state'
        : 'registry store already restored or unchanged; adopting its state',
    );
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (this.needResync) await this.unlessStopped(this.resync());
        if (!this.running) break;
        await this.readOnce();
        if (this.failures > 0) this.options.logger.info({ revision: this.options.feed.revision }, 'registry feed reconnected');
        this.failures = 0;
      } catch (err) {
        if (!this.running) break;
        this.needResync = true;
        this.failures += 1;
        this.options.metrics?.feedErrors.inc();
        if (this.failures === 1) {
          this.options.logger.warn({ err: toRegistryError(err, 'feed') }, 'registry feed interrupted; serving the last known state');
        }
        await this.sleep(Math.min(100 * 2 ** Math.min(this.failures - 1, 5), 2000));
      }
    }
  }

  private async readOnce(): Promise<void> {
    const { tailClient, feedKey, feed, batch, blockMs } = this.options;
    if (tailClient.status === 'wait') await this.unlessStopped(tailClient.connect());
    if (!this.running) return;
    const reply = await this.unlessStopped(
      tailClient.xread('COUNT', batch, 'BLOCK', blockMs, 'STREAMS', feedKey, this.lastId),
    );
    if (!this.running || reply === null || !Array.isArray(reply)) return;
    for (const stream of reply as [string, [string, string[]][]][]) {
      for (const [id, fields] of stream[1]) {
        const entry = decodeFeedEntry(fields);
        if (entry.type === 'restored' || entry.revision > feed.revision + 1) {
          this.options.logger.info(
            { revision: feed.revision, next: entry.revision, restored: entry.type === 'restored' },
            'registry feed gap; resyncing',
          );
          this.needResync = true;
          return;
        }
        this.lastId = id;
        if (entry.revision === feed.revision + 1) feed.apply(entry);
      }
    }
    this.options.metrics?.localRevision.set(feed.revision);
  }

  /**
   * Settles with `work`, or with undefined once stop() is called (a Cluster client may never settle).
   * Not `Promise.race` with a promise pending until stop(): every race would add a reaction to it,
   * each keeping its XREAD reply alive for the life of the process (≈ 1 KB per registry change).
   */
  private unlessStopped<T>(work: Promise<T>): Promise<T | undefined> {
    work.catch(() => undefined);
    if (this.stopped) return Promise.resolve(undefined);
    return new Promise<T | undefined>((resolve, reject) => {
      const abandon = (): void => resolve(undefined);
      this.abandons.add(abandon);
      work.then(
        (value) => {
          this.abandons.delete(abandon);
          resolve(value);
        },
        (error: unknown) => {
          this.abandons.delete(abandon);
          reject(error as Error);
        },
      );
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const clock = this.options.clock;
      const timer = clock.setTimeout(done, ms);
      function done(): void {
        clock.clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
