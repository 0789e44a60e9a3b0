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
 * `redis://` and `rediss://` (TLS) pass through to ioredis (`redis://user:password@host` logs in
 * as an ACL user). Also, with the same `[user[:password]@]` for an ACL user:
 *   redis-sentinel://[user:password@]host:port[,host:port...]/<master name>[?db=N]
 *   rediss-sentinel://…  TLS to the Sentinels and to the master (`?sentinelTls=false`: the
 *                        Sentinels speak plain TCP, the master TLS)
 *   redis-cluster://[user:password@]host:port[,host:port...]
 *   rediss-cluster://…   TLS to every node
 * The credentials authenticate to the Sentinels too. Certificates are checked against the system
 * roots plus NODE_EXTRA_CA_CERTS (docs/operations.md, Redis).
 */
export function parseRedisUrl(url: string): string | RedisOptions | ClusterTarget {
  const scheme = /^([a-z+-]+):\/\//.exec(url)?.[1];
  if (scheme === 'redis' || scheme === 'rediss') return url;
  const kind = scheme === 'redis-sentinel' || scheme === 'rediss-sentinel' ? 'sentinel' : scheme === 'redis-cluster' || scheme === 'rediss-cluster' ? 'cluster' : undefined;
  if (scheme === undefined || kind === undefined) {
    throw new Error(
      `redis: unsupported URL scheme in "${redactUrl(url)}" (use redis://, rediss://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://)`,
    );
  }
  const tls = scheme.startsWith('rediss');
  const rest = url.slice(scheme.length + 3);
  const at = rest.lastIndexOf('@');
  const { username, password } = at === -1 ? { username: undefined, password: undefined } : credentials(rest.slice(0, at));
  const [address = '', query = ''] = rest.slice(at + 1).split('?', 2);
  const [hostsPart = '', name = ''] = address.split('/', 2);
  const params = new URLSearchParams(query);
  const allowed = kind === 'sentinel' ? ['db', 'sentinelTls'] : [];
  for (const key of params.keys()) {
    if (!allowed.includes(key)) throw new Error(`redis: unknown URL parameter "${key}" for ${scheme}:// (known: ${allowed.join(', ') || 'none'})`);
  }
  const defaultPort = kind === 'cluster' ? 6379 : 26379;
  const hosts = hostsPart
    .split(',')
    .filter((h) => h.length > 0)
    .map((h) => parseHostPort(h, defaultPort));
  if (hosts.length === 0) throw new Error('redis: URL names no hosts');
  const auth = { ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
  if (kind === 'cluster') {
    const redisOptions: RedisOptions = { ...auth, ...(tls ? { tls: {} } : {}) };
    return { cluster: { nodes: hosts, options: Object.keys(redisOptions).length === 0 ? {} : { redisOptions } } };
  }
  if (name.length === 0) throw new Error('redis: redis-sentinel:// URL needs the master name as its path');
  const db = params.get('db');
  if (db !== null && !/^\d{1,2}$/.test(db)) throw new Error(`redis: db "${db}" is not a database number`);
  const sentinelTls = params.get('sentinelTls');
  if (sentinelTls !== null && sentinelTls !== 'true' && sentinelTls !== 'false') throw new Error(`redis: sentinelTls must be true or false, not "${sentinelTls}"`);
  return {
    sentinels: hosts,
    name,
    ...auth,
    ...(username === undefined ? {} : { sentinelUsername: username }),
    ...(password === undefined ? {} : { sentinelPassword: password }),
    ...(db === null ? {} : { db: Number(db) }),
    ...(tls ? { tls: {}, enableTLSForSentinelMode: true, ...(sentinelTls === 'false' ? {} : { sentinelTLS: {} }) } : {}),
  };
}

/** `user:password`, `:password` or `user` (an ACL user without a password in the URL). */
function credentials(userinfo: string): { username?: string; password?: string } {
  const colon = userinfo.indexOf(':');
  const user = decodeURIComponent(colon === -1 ? userinfo : userinfo.slice(0, colon));
  const password = colon === -1 ? undefined : decodeURIComponent(userinfo.slice(colon + 1));
  return { ...(user === '' ? {} : { username: user }), ...(password === undefined ? {} : { password }) };
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
  if (target.sentinels !== undefined) return `sentinel(${target.name ?? '?'}${target.tls ? ', tls' : ''})`;
  return `${target.host ?? '127.0.0.1'}:${target.port ?? 6379}`;
}
