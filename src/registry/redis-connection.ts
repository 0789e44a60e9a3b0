/**
 * Builds ioredis clients for the registry from a target: a `redis://` / `rediss://` URL, a
 * `redis-sentinel://` or `redis-cluster://` URL (for the CLI's single `--redis` string), or an
 * ioredis options object (standalone or Sentinel) / cluster description. The client always fails
 * fast while Redis is unreachable (no offline queue, one retry, command timeout) and reconnects
 * in the background with capped exponential backoff.
 */
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

export interface ClusterTarget {
  readonly cluster: { readonly nodes: readonly ClusterNode[]; readonly options?: ClusterOptions };
}

export type RedisTarget = string | RedisOptions | ClusterTarget;
export type RedisClient = Redis | Cluster;

export interface ClientBehaviour {
  /** Per-command timeout; undefined for the feed tailer, whose XREAD BLOCK waits on purpose. */
  readonly commandTimeoutMs: number | undefined;
  /** Client-side bound for blocking commands (BLOCK ms plus a grace), tailer only. */
  readonly blockingTimeoutMs?: number;
  readonly connectionName: string;
  /** Batch concurrent commands into one write (the command connection under load). */
  readonly autoPipelining?: boolean;
}

export function isClusterTarget(target: RedisTarget): target is ClusterTarget {
  return typeof target === 'object' && 'cluster' in target;
}

export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** Math.min(attempt, 10), 2000);
}

export function createRedisClient(target: RedisTarget, behaviour: ClientBehaviour): RedisClient {
  const failFast: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: behaviour.commandTimeoutMs,
    blockingTimeout: behaviour.blockingTimeoutMs,
    connectTimeout: 5000,
    retryStrategy: reconnectDelayMs,
    lazyConnect: true,
    connectionName: behaviour.connectionName,
    // A command cut off by a disconnect fails instead of being replayed later: a replayed script
    // could apply a change twice, and the feed tailer must notice the reconnect to resync.
    autoResendUnfulfilledCommands: false,
    enableAutoPipelining: behaviour.autoPipelining ?? false,
  };
  const resolved = typeof target === 'string' ? parseRedisUrl(target) : target;
  if (typeof resolved === 'string') return new Redis(resolved, failFast);
  if (isClusterTarget(resolved)) {
    const options = resolved.cluster.options ?? {};
    return new Cluster([...resolved.cluster.nodes], {
      ...options,
      enableOfflineQueue: false,
      lazyConnect: true,
      clusterRetryStrategy: reconnectDelayMs,
      enableAutoPipelining: behaviour.autoPipelining ?? false,
      redisOptions: {
        ...options.redisOptions,
        maxRetriesPerRequest: failFast.maxRetriesPerRequest,
        commandTimeout: failFast.commandTimeout,
        blockingTimeout: failFast.blockingTimeout,
        connectTimeout: failFast.connectTimeout,
        connectionName: failFast.connectionName,
        autoResendUnfulfilledCommands: false,
      },
    });
  }
  return new Redis({ ...resolved, ...failFast });
}

/**
 * `redis://` and `rediss://` pass through to ioredis. Also:
 *   redis-sentinel://[:password@]host:port[,host:port...]/<master name>[?db=N]
 *   redis-cluster://[:password@]host:port[,host:port...]
 */
export function parseRedisUrl(url: string): string | RedisOptions | ClusterTarget {
  const scheme = /^([a-z+-]+):\/\//.exec(url)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') return url;
  if (scheme !== 'redis-sentinel' && scheme !== 'redis-cluster') {
    throw new Error(`redis: unsupported URL scheme in "${redactUrl(url)}" (use redis://, rediss://, redis-sentinel:// or redis-cluster://)`);
  }
  const rest = url.slice(scheme.length + 3);
  const at = rest.lastIndexOf('@');
  const password = at === -1 ? undefined : decodeURIComponent(rest.slice(0, at).replace(/^[^:]*:/, ''));
  const [hostsPart = '', pathPart = ''] = rest.slice(at + 1).split('/', 2);
  const [name = '', query = ''] = pathPart.split('?', 2);
  const defaultPort = scheme === 'redis-cluster' ? 6379 : 26379;
  const hosts = hostsPart
    .split(',')
    .filter((h) => h.length > 0)
    .map((h) => parseHostPort(h, defaultPort));
  if (hosts.length === 0) throw new Error('redis: URL names no hosts');
  if (scheme === 'redis-cluster') {
    return { cluster: { nodes: hosts, options: password === undefined ? {} : { redisOptions: { password } } } };
  }
  if (name.length === 0) throw new Error('redis: redis-sentinel:// URL needs the master name as its path');
  const db = new URLSearchParams(query).get('db');
  return {
    sentinels: hosts,
    name,
    ...(password === undefined ? {} : { password, sentinelPassword: password }),
    ...(db === null ? {} : { db: Number(db) }),
  };
}

/**
 * The target with a password supplied apart from the URL (a mounted Secret): for Sentinel it
 * authenticates to the Sentinels and to the master, for Cluster to every node. A password already
 * in the URL is replaced.
 */
export function withPassword(target: RedisTarget, password: string): RedisTarget {
  const resolved = typeof target === 'string' ? parseRedisUrl(target) : target;
  if (typeof resolved === 'string') {
    const url = new URL(resolved);
    url.password = encodeURIComponent(password);
    return url.toString();
  }
  if (isClusterTarget(resolved)) {
    const options = resolved.cluster.options ?? {};
    return { cluster: { nodes: resolved.cluster.nodes, options: { ...options, redisOptions: { ...options.redisOptions, password } } } };
  }
  return resolved.sentinels === undefined ? { ...resolved, password } : { ...resolved, password, sentinelPassword: password };
}

function parseHostPort(hostPort: string, defaultPort: number): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(hostPort);
  if (match === null) throw new Error(`redis: cannot parse host "${hostPort}"`);
  return { host: match[1] ?? hostPort, port: match[2] === undefined ? defaultPort : Number(match[2]) };
}

/** For log lines and errors: never print a password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}

export function describeTarget(target: RedisTarget): string {
  if (typeof target === 'string') return redactUrl(target);
  if (isClusterTarget(target)) return `cluster(${target.cluster.nodes.length} seed nodes)`;
  if (target.sentinels !== undefined) return `sentinel(${target.name ?? '?'})`;
  return `${target.host ?? '127.0.0.1'}:${target.port ?? 6379}`;
}
