/**
 * The settings of `accord serve`: flags first, then ACCORD_* environment variables, then defaults.
 * Secrets (ACCORD_CA_KEK, ACCORD_CA_KEK_PREVIOUS, ACCORD_REDIS, ACCORD_REDIS_PASSWORD) can also come from a file named by the
 * same variable with `_FILE` appended (a mounted Kubernetes Secret), never both. ACCORD_API_TOKEN_FILE
 * is a token file: several tokens, followed for changes (serve reads it).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { parseDuration } from '../core/duration.js';
import type { CaOptions } from '../identity/ca-runtime.js';
import type { XdsLimits } from '../xds/index.js';

/** Workload tokens live this long unless `--token-ttl` says otherwise (docs/decisions/0009-workload-token-lifetime.md). */
export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3_600_000;
export const MAX_TOKEN_TTL_MS = 365 * 24 * 3_600_000;

/** The CA flags (`CaOptions`: trust domain, Redis or data dir, KEKs, backup, CA files) and the rest. */
export interface ServeOptions extends CaOptions {
  readonly configPath?: string;
  readonly redisUrl?: string;
  /** Redis password kept apart from the URL (ACCORD_REDIS_PASSWORD or ACCORD_REDIS_PASSWORD_FILE). */
  readonly redisPassword?: string;
  readonly redisPrefix: string;
  readonly dataDir: string;
  readonly host: string;
  readonly xdsPort: number;
  readonly httpPort: number;
  readonly trustDomain?: string;
  readonly apiToken?: string;
  /** A file of operator tokens (one a line, `#` comments), all accepted, re-read on change. */
  readonly apiTokenFile?: string;
  /** A file of per-namespace registration tokens (`<namespace> <token>` a line), re-read on change. */
  readonly registrationTokenFile?: string;
  /** Serve xDS over TLS with a certificate from the mesh CA. */
  readonly xdsTls: boolean;
  /** Serve xDS over TLS with the operator's certificate and key files instead. */
  readonly xdsTlsCertFile?: string;
  readonly xdsTlsKeyFile?: string;
  /** Serve the HTTP API over TLS with a certificate from the mesh CA. */
  readonly httpTls: boolean;
  /** Serve the HTTP API over TLS with the operator's certificate and key files instead. */
  readonly httpTlsCertFile?: string;
  readonly httpTlsKeyFile?: string;
  /** Extra DNS names / IP addresses for the control plane's own certificate (how clients dial it). */
  readonly tlsSans: readonly string[];
  /** Bound to a non-loopback address without TLS on the xDS port: allowed only with this, and warned about. */
  readonly insecure: boolean;
  /** A read-only operator token (`/v1` reads only), or a file holding it (0600). */
  readonly apiReadToken?: string;
  readonly apiReadTokenFile?: string;
  /** Lifetime of newly minted workload tokens. */
  readonly tokenTtlMs: number;
  /** Per-workload certificate issuance: burst, then rate per minute. */
  readonly issueBurst: number;
  readonly issuePerMinute: number;
  /** Worker threads that generate and sign SDS leaves; 0 issues them on the event loop. */
  readonly issuanceWorkers: number;
  readonly logLevel: string;
  /** After SIGTERM: how long open xDS streams keep being served (readiness fails, new streams are refused). */
  readonly drainPeriodMs: number;
  /** After the drain period: the window over which the open streams are ended, each at a random moment. */
  readonly drainCloseWindowMs: number;
  /** After the streams are closed: how long in-flight calls may still finish. */
  readonly shutdownGraceMs: number;
  /** xDS connections older than this (± 10 %) are closed so proxies rebalance across replicas; 0 = never. */
  readonly maxConnectionAgeMs: number;
  /** xDS stream limits set in the environment (docs/configuration.md); the rest keep their defaults. */
  readonly xdsLimits: Partial<XdsLimits>;
  /** After a control-plane-wide outage, what every lease gets on top of a full lease (docs/registry.md, Leases). */
  readonly leaseReconnectWindowMs: number;
  /** `accord status`: a response not ACKed within this long shows as STALE. */
  readonly staleAfterMs: number;
  /** A proxy silent this long (an agent that stopped polling) no longer holds a root-rotation gate. */
  readonly rotationGraceMs: number;
  /** This replica's name in `accord status` (default host name and process id). */
  readonly replicaName?: string;
}

/** Environment variables for the xDS stream limits, each a positive integer. */
const XDS_LIMIT_VARIABLES: readonly [keyof XdsLimits, string][] = [
  ['maxStreams', 'ACCORD_XDS_MAX_STREAMS'],
  ['maxPendingStreams', 'ACCORD_XDS_MAX_PENDING_STREAMS'],
  ['maxStreamsPerPeer', 'ACCORD_XDS_MAX_STREAMS_PER_PEER'],
  ['maxPendingStreamsPerPeer', 'ACCORD_XDS_MAX_PENDING_STREAMS_PER_PEER'],
  ['maxStreamsPerWorkload', 'ACCORD_XDS_MAX_STREAMS_PER_WORKLOAD'],
  ['firstRequestTimeoutMs', 'ACCORD_XDS_FIRST_REQUEST_TIMEOUT_MS'],
];

function xdsLimits(env: NodeJS.ProcessEnv): Partial<XdsLimits> {
  const limits: Partial<Record<keyof XdsLimits, number>> = {};
  for (const [key, name] of XDS_LIMIT_VARIABLES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const parsed = Number(value);
    if (!Number.isSafeInteger(parsed) || parsed <= 0) throw new Error(`${name}: "${value}" is not a positive integer`);
    limits[key] = parsed;
  }
  return limits;
}

export type RawServeFlags = Partial<Record<string, string | boolean | undefined>>;

function pick(flag: string | boolean | undefined, envName: string, env: NodeJS.ProcessEnv): string | undefined {
  if (typeof flag === 'string' && flag !== '') return flag;
  const fromEnv = env[envName];
  return fromEnv === undefined || fromEnv === '' ? undefined : fromEnv;
}

function port(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new Error(`${name}: "${value}" is not a port number (0-65535)`);
  return parsed;
}

function bool(flag: string | boolean | undefined, envName: string, env: NodeJS.ProcessEnv): boolean {
  if (typeof flag === 'boolean') return flag;
  const value = env[envName];
  return value === 'true' || value === '1';
}

function durationMs(value: string | undefined, fallback: number, name: string, bounds: { min: number; max: number }): number {
  if (value === undefined) return fallback;
  const parsed = parseDuration(value);
  if (!parsed.ok) throw new Error(`${name}: ${parsed.reason}`);
  if (parsed.ms < bounds.min || parsed.ms > bounds.max) {
    throw new Error(`${name}: "${value}" is outside ${bounds.min / 1000}s..${bounds.max / 3_600_000}h`);
  }
  return parsed.ms;
}

function positive(value: string | undefined, fallback: number, name: string, max: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || parsed > max || (integer && !Number.isInteger(parsed))) {
    throw new Error(`${name}: "${value}" is not a ${integer ? 'whole ' : ''}number in (0, ${max}]`);
  }
  return parsed;
}

const MAX_ISSUANCE_WORKERS = 64;

function count(value: string | undefined, fallback: number, name: string, max: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || parsed > max) throw new Error(`${name}: "${value}" is not a whole number from 0 to ${max}`);
  return parsed;
}

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter(Boolean);
}

function seconds(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 3600) throw new Error(`${name}: "${value}" is not a whole number of seconds (0-3600)`);
  return parsed;
}

export type ReadTextFile = (file: string) => string;
const readText: ReadTextFile = (file) => readFileSync(file, 'utf8');

/** A secret from `NAME` or from the file `NAME_FILE` names; surrounding whitespace is dropped. */
function secret(name: string, env: NodeJS.ProcessEnv, read: ReadTextFile, options: { singleLine?: boolean } = {}): string | undefined {
  const direct = env[name] || undefined;
  const file = env[`${name}_FILE`] || undefined;
  if (direct !== undefined && file !== undefined) throw new Error(`${name} and ${name}_FILE are both set; set one of them`);
  if (file === undefined) return direct;
  let text: string;
  try {
    text = read(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error));
    throw new Error(`${name}_FILE: cannot read ${file}: ${code}`, { cause: error });
  }
  const value = text.trim();
  if (value === '') throw new Error(`${name}_FILE: ${file} is empty`);
  if (options.singleLine && /\s/.test(value)) throw new Error(`${name}_FILE: ${file} must hold one value on one line`);
  return value;
}

/** ACCORD_API_TOKEN, or a token file (--api-token-file / ACCORD_API_TOKEN_FILE) read and followed by serve; not both. */
function operatorTokenSource(flags: RawServeFlags, env: NodeJS.ProcessEnv): { apiToken?: string; apiTokenFile?: string } {
  const apiToken = env.ACCORD_API_TOKEN || undefined;
  const apiTokenFile = pick(flags.apiTokenFile, 'ACCORD_API_TOKEN_FILE', env);
  if (apiToken !== undefined && apiTokenFile !== undefined) throw new Error('ACCORD_API_TOKEN and ACCORD_API_TOKEN_FILE are both set; set one of them');
  if (apiToken !== undefined && /\s/.test(apiToken)) throw new Error('ACCORD_API_TOKEN must hold one value on one line');
  return { apiToken, apiTokenFile };
}

export function resolveServeOptions(flags: RawServeFlags, env: NodeJS.ProcessEnv = process.env, read: ReadTextFile = readText): ServeOptions {
  const drainSeconds = seconds(pick(flags.drainSeconds, 'ACCORD_DRAIN_SECONDS', env), 10, '--drain-seconds');
  // ACCORD_SHUTDOWN_GRACE_MS (for tests that stop servers often): no drain, streams end at once.
  const quickStop = env.ACCORD_SHUTDOWN_GRACE_MS ? Number(env.ACCORD_SHUTDOWN_GRACE_MS) : undefined;
  const drainBounds = { min: 0, max: 3_600_000 };
  return {
    configPath: pick(flags.config, 'ACCORD_CONFIG', env),
    redisUrl: typeof flags.redis === 'string' && flags.redis !== '' ? flags.redis : secret('ACCORD_REDIS', env, read, { singleLine: true }),
    redisPassword: secret('ACCORD_REDIS_PASSWORD', env, read, { singleLine: true }),
    redisPrefix: pick(flags.redisPrefix, 'ACCORD_REDIS_PREFIX', env) ?? 'accord',
    dataDir: pick(flags.dataDir, 'ACCORD_DATA_DIR', env) ?? './.accord',
    host: pick(flags.host, 'ACCORD_HOST', env) ?? '127.0.0.1',
    xdsPort: port(pick(flags.xdsPort, 'ACCORD_XDS_PORT', env), 18000, '--xds-port'),
    httpPort: port(pick(flags.httpPort, 'ACCORD_HTTP_PORT', env), 18080, '--http-port'),
    trustDomain: pick(flags.trustDomain, 'ACCORD_TRUST_DOMAIN', env),
    ...operatorTokenSource(flags, env),
    registrationTokenFile: pick(flags.registrationTokenFile, 'ACCORD_REGISTRATION_TOKEN_FILE', env),
    caKek: secret('ACCORD_CA_KEK', env, read, { singleLine: true }),
    caKekId: env.ACCORD_CA_KEK_ID || undefined,
    caKekPrevious: secret('ACCORD_CA_KEK_PREVIOUS', env, read, { singleLine: true }),
    caKekPreviousId: env.ACCORD_CA_KEK_PREVIOUS_ID || undefined,
    caBackupFile: pick(flags.caBackup, 'ACCORD_CA_BACKUP_FILE', env),
    allowNewRoot: bool(flags.allowNewRoot, 'ACCORD_ALLOW_NEW_ROOT', env),
    caCertFile: pick(flags.caCert, 'ACCORD_CA_CERT', env),
    caKeyFile: pick(flags.caKey, 'ACCORD_CA_KEY', env),
    caRootFile: pick(flags.caRoot, 'ACCORD_CA_ROOT', env),
    xdsTls: bool(flags.xdsTls, 'ACCORD_XDS_TLS', env),
    xdsTlsCertFile: pick(flags.xdsTlsCert, 'ACCORD_XDS_TLS_CERT', env),
    xdsTlsKeyFile: pick(flags.xdsTlsKey, 'ACCORD_XDS_TLS_KEY', env),
    httpTls: bool(flags.httpTls, 'ACCORD_HTTP_TLS', env),
    httpTlsCertFile: pick(flags.httpTlsCert, 'ACCORD_HTTP_TLS_CERT', env),
    httpTlsKeyFile: pick(flags.httpTlsKey, 'ACCORD_HTTP_TLS_KEY', env),
    tlsSans: list(pick(flags.tlsSan, 'ACCORD_TLS_SAN', env)),
    insecure: bool(flags.insecure, 'ACCORD_INSECURE', env),
    apiReadToken: env.ACCORD_API_READ_TOKEN || undefined,
    apiReadTokenFile: env.ACCORD_API_READ_TOKEN_FILE || undefined,
    tokenTtlMs: durationMs(pick(flags.tokenTtl, 'ACCORD_TOKEN_TTL', env), DEFAULT_TOKEN_TTL_MS, '--token-ttl', { min: 1_000, max: MAX_TOKEN_TTL_MS }),
    issueBurst: positive(pick(flags.issueBurst, 'ACCORD_ISSUE_BURST', env), 5, '--issue-burst', 10_000, true),
    issuePerMinute: positive(pick(flags.issuePerMinute, 'ACCORD_ISSUE_PER_MINUTE', env), 3, '--issue-per-minute', 60_000, false),
    issuanceWorkers: count(pick(flags.issuanceWorkers, 'ACCORD_ISSUANCE_WORKERS', env), os.availableParallelism() > 1 ? 1 : 0, '--issuance-workers', MAX_ISSUANCE_WORKERS),
    logLevel: pick(flags.logLevel, 'ACCORD_LOG_LEVEL', env) ?? 'info',
    xdsLimits: xdsLimits(env),
    drainPeriodMs: durationMs(pick(flags.drainPeriod, 'ACCORD_DRAIN_PERIOD', env), quickStop !== undefined ? 0 : drainSeconds * 1000, '--drain-period', drainBounds),
    drainCloseWindowMs: durationMs(pick(flags.drainCloseWindow, 'ACCORD_DRAIN_CLOSE_WINDOW', env), quickStop !== undefined ? 0 : 5_000, '--drain-close-window', drainBounds),
    shutdownGraceMs: quickStop ?? 5_000,
    maxConnectionAgeMs: durationMs(pick(flags.maxConnectionAge, 'ACCORD_MAX_CONNECTION_AGE', env), 30 * 60_000, '--max-connection-age', { min: 0, max: 7 * 24 * 3_600_000 }),
    staleAfterMs: durationMs(pick(flags.staleAfter, 'ACCORD_STALE_AFTER', env), 10_000, '--stale-after', { min: 1_000, max: 3_600_000 }),
    replicaName: pick(flags.replicaName, 'ACCORD_REPLICA_NAME', env),
    rotationGraceMs: durationMs(pick(flags.rotationGrace, 'ACCORD_ROTATION_GRACE', env), 10 * 60_000, '--rotation-grace', { min: 1_000, max: 24 * 3_600_000 }),
    leaseReconnectWindowMs: durationMs(pick(flags.leaseReconnectWindow, 'ACCORD_LEASE_RECONNECT_WINDOW', env), 30_000, '--lease-reconnect-window', { min: 0, max: 24 * 3_600_000 }),
  };
}
