import type { XdsLimits } from '../xds/index.js';

/** The settings of `accord serve`: flags first, then ACCORD_* environment variables, then defaults. */
import { parseDuration } from '../config/duration.js';

/** Workload tokens live this long unless `--token-ttl` says otherwise (docs/decisions/0009-workload-token-lifetime.md). */
export const DEFAULT_TOKEN_TTL_MS = 30 * 24 * 3_600_000;
export const MAX_TOKEN_TTL_MS = 365 * 24 * 3_600_000;

export interface ServeOptions {
  readonly configPath?: string;
  readonly redisUrl?: string;
  readonly redisPrefix: string;
  readonly dataDir: string;
  readonly host: string;
  readonly xdsPort: number;
  readonly httpPort: number;
  readonly trustDomain?: string;
  readonly apiToken?: string;
  /** Key-encryption key for CA material kept in Redis (base64 or hex of 32 bytes). */
  readonly caKek?: string;
  /** Operator-supplied CA files. */
  readonly caCertFile?: string;
  readonly caKeyFile?: string;
  readonly caRootFile?: string;
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
  readonly logLevel: string;
  readonly shutdownGraceMs: number;
  /** xDS stream limits set in the environment (docs/configuration.md); the rest keep their defaults. */
  readonly xdsLimits: Partial<XdsLimits>;
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

function list(value: string | undefined): string[] {
  return (value ?? '').split(',').map((item) => item.trim()).filter(Boolean);
}

export function resolveServeOptions(flags: RawServeFlags, env: NodeJS.ProcessEnv = process.env): ServeOptions {
  return {
    configPath: pick(flags.config, 'ACCORD_CONFIG', env),
    redisUrl: pick(flags.redis, 'ACCORD_REDIS', env),
    redisPrefix: pick(flags.redisPrefix, 'ACCORD_REDIS_PREFIX', env) ?? 'accord',
    dataDir: pick(flags.dataDir, 'ACCORD_DATA_DIR', env) ?? './.accord',
    host: pick(flags.host, 'ACCORD_HOST', env) ?? '127.0.0.1',
    xdsPort: port(pick(flags.xdsPort, 'ACCORD_XDS_PORT', env), 18000, '--xds-port'),
    httpPort: port(pick(flags.httpPort, 'ACCORD_HTTP_PORT', env), 18080, '--http-port'),
    trustDomain: pick(flags.trustDomain, 'ACCORD_TRUST_DOMAIN', env),
    apiToken: env.ACCORD_API_TOKEN || undefined,
    caKek: env.ACCORD_CA_KEK || undefined,
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
    logLevel: pick(flags.logLevel, 'ACCORD_LOG_LEVEL', env) ?? 'info',
    shutdownGraceMs: Number(env.ACCORD_SHUTDOWN_GRACE_MS ?? 5000),
    xdsLimits: xdsLimits(env),
  };
}
