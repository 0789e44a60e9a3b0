import { writeFile, rename, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import type { Logger } from '../observability/logger.js';
import { keepAliveClock, sleep, type Clock, type TimerHandle } from '../core/clock.js';
import type { Workload } from '../core/workload.js';
import { grpcBootstrap } from '../mesh/bootstrap/index.js';
import { CertFileWriter, CERT_FILE } from './cert-files.js';
import { AgentHttpError, CertificateClient, describeAgentFailure, type AgentCertificate } from './certificate-client.js';
import { AgentStatusServer, type AgentHealth, type StatusAddress } from './status-server.js';
import { XdsProxy } from './xds-proxy.js';
import { grpcAddress, parseListenAddress, type ListenAddress } from './listen-address.js';

export interface AgentOptions {
  /** Timers (they keep the agent alive while it waits); the real clock by default. */
  readonly clock?: Clock;
  readonly token: string;
  /** The control plane's HTTP API: one URL, or several replicas to fail over between. */
  readonly servers: readonly string[];
  readonly xds: readonly string[];
  readonly outDir: string;
  /** `unix:PATH` or a loopback `HOST:PORT`; by default `unix:<outDir>/xds.sock`. */
  readonly listen?: string;
  readonly logger: Logger;
  /** Where to serve `/healthz` and `/status`; undefined: nowhere. */
  readonly status?: StatusAddress;
  /** How often the trust bundle is re-read (root rotation, CRL-driven changes). */
  readonly bundlePollMs?: number;
  /** CA bundle (PEM) to trust when the control plane's HTTP API is HTTPS (`--ca-file`). */
  readonly caBundlePem?: string;
  /** First retry delay after a failure; doubles up to `retryMaxMs`. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Failures refused by the server (401/403) at start before the agent gives up. */
  readonly startAttempts?: number;
}

/** The renewed workload token is kept here (0600), so a restarted agent uses it rather than an expired one. */
export const TOKEN_FILE = 'token';
/** The workload's registration as the control plane last described it, for re-registration after a restart. */
export const REGISTRATION_FILE = 'registration.json';
/** A failed token renewal is retried this much later. */
const TOKEN_RETRY_MS = 30_000;

interface TokenTimes {
  readonly workloadId: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

function tokenTimes(token: string): TokenTimes | undefined {
  try {
    const claims = decodeJwt(token);
    if (typeof claims.sub !== 'string' || typeof claims.iat !== 'number' || typeof claims.exp !== 'number') return undefined;
    return { workloadId: claims.sub, issuedAt: claims.iat * 1000, expiresAt: claims.exp * 1000 };
  } catch {
    return undefined;
  }
}

const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
const START_ATTEMPTS = 6;

/** What went wrong last, for the log and `/status`. */
interface Failure {
  readonly operation: 'certificate' | 'trust bundle' | 'xds';
  readonly message: string;
  readonly at: string;
  readonly consecutive: number;
  readonly retryInMs?: number;
}

const DOING: Record<Failure['operation'], string> = {
  certificate: 'getting a certificate',
  'trust bundle': 'reading the trust bundle',
  xds: 'xDS',
};

function isUnknownWorkload(error: unknown): boolean {
  return error instanceof AgentHttpError && error.status === 404;
}

/** The registration body that recreates `workload` as it was (same endpoint, so the same id). */
export function registrationOf(workload: Workload): Record<string, unknown> {
  return {
    service: workload.service,
    namespace: workload.namespace,
    serviceAccount: workload.serviceAccount,
    address: workload.address,
    port: workload.port,
    meshPort: workload.meshPort,
    protocol: workload.protocol,
    labels: workload.labels,
    locality: workload.locality,
    upstreams: workload.upstreams,
    ...(workload.leaseMs === undefined ? {} : { ttl: `${workload.leaseMs}ms` }),
  };
}

function isRefusal(error: unknown): boolean {
  return error instanceof AgentHttpError && (error.status === 401 || error.status === 403);
}

/**
 * `accord agent`: keeps a proxyless workload's certificate files current (key generated locally,
 * certificate by CSR, rotated before expiry, trust bundle followed) and forwards its xDS streams
 * to the control plane with the workload's credentials. Every failure is logged with what it was
 * and when the next try is; `/healthz` and `/status` tell the same.
 */
export class Agent {
  private readonly files: CertFileWriter;
  private readonly client: CertificateClient;
  private readonly options: AgentOptions;
  private proxy: XdsProxy | undefined;
  private statusServer: AgentStatusServer | undefined;
  private current: AgentCertificate | undefined;
  private bundle: string | undefined;
  private bundleFetchedAt: number | undefined;
  private rotationTimer: TimerHandle | undefined;
  private bundleTimer: TimerHandle | undefined;
  private stopped = false;
  private lastFailure: Failure | undefined;
  private readonly consecutive = { certificate: 0, 'trust bundle': 0 };
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly listen: ListenAddress;
  private token: string;
  private tokenRenewalAfter = 0;
  readonly startedAt = Date.now();
  listenPort = 0;
  statusAddress: string | undefined;

  constructor(options: AgentOptions) {
    // The bootstrap names the certificate files; a gRPC client may run from another directory.
    this.options = { ...options, outDir: path.resolve(options.outDir) };
    this.clock = options.clock ?? keepAliveClock;
    this.listen = parseListenAddress(options.listen, this.options.outDir);
    this.files = new CertFileWriter(this.options.outDir);
    this.token = options.token;
    this.client = new CertificateClient(options.servers, () => this.token, options.caBundlePem);
    this.log = options.logger.child({ component: 'agent' });
  }

  /** The workload token in use now (the one given, or a renewal of it). */
  get currentToken(): string {
    return this.token;
  }

  async start(): Promise<void> {
    if (this.options.status) {
      this.statusServer = new AgentStatusServer({ health: () => this.health(), status: () => this.status() });
      this.statusAddress = await this.statusServer.listen(this.options.status);
      this.log.info({ status: this.statusAddress }, 'agent status at /healthz and /status');
    }
    try {
      await this.adoptSavedToken();
      await this.firstCertificate();
      if (this.stopped) return;
      // The proxy reads the token for every upstream stream, so renewals reach new streams.
      this.proxy = new XdsProxy({
        upstreams: this.options.xds,
        token: () => this.token,
        logger: this.options.logger,
        onUpstreamFailure: (message) => this.failed('xds', message),
      });
      this.listenPort = await this.proxy.listen(this.listen).catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        const inUse = /EADDRINUSE/.test(reason) ? 'the address is already in use' : reason;
        throw new Error(`cannot serve the local xDS proxy on ${grpcAddress(this.listen, 0)} (--listen): ${inUse}`, { cause: error });
      });
      await this.writeBootstrap();
    } catch (error) {
      await this.close();
      throw error;
    }
    this.pollBundle(0);
    this.log.info({ listen: this.listenAddress, out: this.options.outDir, xds: this.options.xds }, 'agent running');
  }

  /** Where proxyless clients reach the proxy: `unix:/abs/path` or `host:port`. */
  get listenAddress(): string {
    return grpcAddress(this.listen, this.listenPort);
  }

  get certificate(): AgentCertificate | undefined {
    return this.current;
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.rotationTimer);
    this.clock.clearTimeout(this.bundleTimer);
    await this.proxy?.close();
    await this.statusServer?.close();
  }

  health(now = Date.now()): AgentHealth {
    if (!this.current) return { healthy: false, reason: this.lastFailure ? `no certificate yet: ${this.lastFailure.message}` : 'no certificate yet' };
    if (this.current.notAfter <= now) return { healthy: false, reason: `the certificate expired at ${new Date(this.current.notAfter).toISOString()}: ${this.lastFailure?.message ?? 'not renewed'}` };
    return { healthy: true, reason: this.lastFailure && this.lastFailure.consecutive > 0 ? `certificate valid; last failure: ${this.lastFailure.message}` : 'certificate valid' };
  }

  status(now = Date.now()): unknown {
    const certificate = this.current;
    return {
      health: this.health(now),
      startedAt: new Date(this.startedAt).toISOString(),
      certificate: certificate
        ? {
            serial: certificate.serial,
            spiffeId: certificate.spiffeId,
            notAfter: new Date(certificate.notAfter).toISOString(),
            renewAt: new Date(certificate.rotateAt).toISOString(),
          }
        : null,
      trustBundleFetchedAt: this.bundleFetchedAt ? new Date(this.bundleFetchedAt).toISOString() : null,
      xds: { listen: this.listenPort ? this.listenAddress : null, upstream: this.proxy?.upstream ?? this.options.xds[0] ?? null },
      lastFailure: this.lastFailure ?? null,
    };
  }

  private backoff(attempt: number): number {
    const min = this.options.retryMinMs ?? RETRY_MIN_MS;
    return Math.min(this.options.retryMaxMs ?? RETRY_MAX_MS, min * 2 ** Math.min(attempt, 20));
  }

  /** The backoff, or longer when the server said when to come back (429 Retry-After). */
  private retryDelay(error: unknown, attempt: number): number {
    const backoff = this.backoff(attempt);
    return error instanceof AgentHttpError && error.retryAfterMs !== undefined ? Math.max(backoff, error.retryAfterMs) : backoff;
  }

  /** Logs a failure once per occurrence, with how many in a row and when the next try is. */
  private failed(operation: Failure['operation'], message: string, retryInMs?: number, refused = false): void {
    const consecutive = operation === 'xds' ? (this.lastFailure?.operation === 'xds' ? this.lastFailure.consecutive + 1 : 1) : (this.consecutive[operation] += 1);
    this.lastFailure = { operation, message, at: new Date().toISOString(), consecutive, ...(retryInMs === undefined ? {} : { retryInMs }) };
    const fields = { operation, consecutiveFailures: consecutive, ...(retryInMs === undefined ? {} : { retryInMs }) };
    this.log[refused ? 'error' : 'warn'](fields, `${DOING[operation]} failed: ${message}${retryInMs === undefined ? '' : `; retrying in ${Math.round(retryInMs / 100) / 10}s`}`);
  }

  private recovered(operation: 'certificate' | 'trust bundle'): void {
    if (this.consecutive[operation] > 0) this.log.info({ operation, failuresBefore: this.consecutive[operation] }, `${DOING[operation]} works again`);
    this.consecutive[operation] = 0;
    if (this.lastFailure?.operation === operation) this.lastFailure = { ...this.lastFailure, consecutive: 0 };
  }

  /** The first certificate: retried with backoff; refusals (401/403) end the start after a few tries. */
  private async firstCertificate(): Promise<void> {
    const attempts = this.options.startAttempts ?? START_ATTEMPTS;
    for (let attempt = 0; !this.stopped; attempt += 1) {
      try {
        await this.obtain();
        return;
      } catch (error) {
        const refused = isRefusal(error);
        const delay = this.retryDelay(error, attempt);
        if (refused && attempt + 1 >= attempts) {
          this.failed('certificate', describeAgentFailure(error), undefined, true);
          throw new Error(`giving up after ${attempt + 1} refusals: ${describeAgentFailure(error)}`, { cause: error });
        }
        this.failed('certificate', describeAgentFailure(error), delay, refused);
        if (isUnknownWorkload(error)) await this.reregister();
        await sleep(this.clock, delay);
      }
    }
  }

  private async obtain(): Promise<void> {
    const certificate = await this.client.fetchCertificate();
    await this.files.write({ certChainPem: certificate.certChainPem, keyPem: certificate.keyPem, caBundlePem: certificate.caBundlePem });
    this.current = certificate;
    if (certificate.workload) await this.saveRegistration(certificate.workload as unknown as Workload);
    this.bundle = certificate.caBundlePem;
    this.bundleFetchedAt = Date.now();
    this.recovered('certificate');
    this.log.info({ serial: certificate.serial, spiffeId: certificate.spiffeId, notAfter: new Date(certificate.notAfter).toISOString() }, 'certificate written');
    this.schedule(Math.max(0, certificate.rotateAt - Date.now()));
  }

  /**
   * The wait before the next renewal try. While the current certificate is valid no wait exceeds a
   * third of its remaining life, so a control plane that answers again before it expires is asked
   * again in time (a doubling backoff could otherwise sleep past the expiry and leave the workload
   * without a valid certificate for up to `retryMaxMs`); a Retry-After is still honoured.
   */
  private renewalDelay(error: unknown, attempt: number): number {
    const remaining = (this.current?.notAfter ?? 0) - Date.now();
    if (remaining <= 0) return this.retryDelay(error, attempt);
    const retryAfter = error instanceof AgentHttpError ? (error.retryAfterMs ?? 0) : 0;
    const cap = Math.max(this.options.retryMinMs ?? RETRY_MIN_MS, Math.floor(remaining / 3));
    return Math.max(retryAfter, Math.min(this.backoff(attempt), cap));
  }

  /** A renewal; on failure the current files stay and the next try backs off. */
  private async renew(attempt = 0): Promise<void> {
    try {
      await this.obtain();
    } catch (error) {
      const delay = this.renewalDelay(error, attempt);
      this.failed('certificate', `${describeAgentFailure(error)}; the current files stay in place`, delay, isRefusal(error));
      if (isUnknownWorkload(error)) await this.reregister();
      this.schedule(delay, attempt + 1);
    }
  }

  private schedule(delayMs: number, attempt = 0): void {
    if (this.stopped) return;
    this.clock.clearTimeout(this.rotationTimer);
    this.rotationTimer = this.clock.setTimeout(() => void this.renew(attempt), delayMs);
  }

  /**
   * The control plane does not know this workload (its lease was reaped while no proxy renewed it,
   * or the store lost its data): register it again, as it was, with the workload token.
   */
  private async reregister(): Promise<void> {
    const workload = this.current?.workload as Workload | undefined;
    const registration = workload ? registrationOf(workload) : await this.savedRegistration();
    if (!registration) return;
    try {
      const result = await this.client.reregister(registration);
      if (result.created) this.log.warn({ workloadId: result.id, spiffeId: result.spiffeId }, 'the control plane did not know this workload; registered it again with its token');
    } catch (error) {
      this.log.error({ service: registration.service }, `could not register the workload again: ${describeAgentFailure(error)}`);
    }
  }

  /** Kept beside the token (0600), so an agent restarted while its workload is missing can bring it back. */
  private async saveRegistration(workload: Workload): Promise<void> {
    const file = path.join(this.options.outDir, REGISTRATION_FILE);
    try {
      await mkdir(this.options.outDir, { recursive: true });
      await writeFile(`${file}.tmp`, `${JSON.stringify(registrationOf(workload))}\n`, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
    } catch (error) {
      this.log.warn({ file, err: error }, 'could not save the registration for re-registration after a restart');
    }
  }

  private async savedRegistration(): Promise<Record<string, unknown> | undefined> {
    try {
      const parsed: unknown = JSON.parse(await readFile(path.join(this.options.outDir, REGISTRATION_FILE), 'utf8'));
      return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }

  /** A token saved by an earlier run, if it is newer than the one given and still valid. */
  private async adoptSavedToken(): Promise<void> {
    let saved: string;
    try {
      saved = (await readFile(path.join(this.options.outDir, TOKEN_FILE), 'utf8')).trim();
    } catch {
      return;
    }
    const given = tokenTimes(this.token);
    const kept = tokenTimes(saved);
    if (!kept || kept.expiresAt <= Date.now()) return;
    if (given && (kept.workloadId !== given.workloadId || kept.issuedAt <= given.issuedAt)) return;
    this.token = saved;
    this.log.info({ expiresAt: new Date(kept.expiresAt).toISOString() }, 'using the renewed workload token saved by an earlier run');
  }

  /** Renews the workload token once half its lifetime has passed; the old one stays valid until it expires. */
  private async renewTokenIfDue(): Promise<void> {
    const now = Date.now();
    const times = tokenTimes(this.token);
    if (!times || now < this.tokenRenewalAfter) return;
    if (now < times.issuedAt + (times.expiresAt - times.issuedAt) / 2) return;
    try {
      const renewed = await this.client.renewToken();
      this.token = renewed.token;
      await mkdir(this.options.outDir, { recursive: true });
      const file = path.join(this.options.outDir, TOKEN_FILE);
      await writeFile(`${file}.tmp`, `${renewed.token}\n`, { mode: 0o600 });
      await rename(`${file}.tmp`, file);
      this.log.info({ tokenId: renewed.tokenId, expiresAt: renewed.expiresAt }, 'workload token renewed');
    } catch (error) {
      this.tokenRenewalAfter = now + TOKEN_RETRY_MS;
      this.log.warn({ err: error, expiresAt: new Date(times.expiresAt).toISOString() }, 'could not renew the workload token; will retry');
    }
  }

  /** Follows trust-bundle changes (a root rotation adds the new root before any leaf uses it). */
  private pollBundle(failures: number): void {
    if (this.stopped) return;
    const interval = this.options.bundlePollMs ?? 2_000;
    const delay = failures === 0 ? interval : Math.max(interval, this.backoff(failures - 1));
    this.bundleTimer = this.clock.setTimeout(async () => {
      await this.renewTokenIfDue();
      let next = 0;
      try {
        const { caBundlePem, reissue } = await this.client.fetchBundle();
        this.bundleFetchedAt = Date.now();
        this.recovered('trust bundle');
        if (this.current && caBundlePem !== this.bundle) {
          this.bundle = caBundlePem;
          await this.files.write({ certChainPem: this.current.certChainPem, keyPem: this.current.keyPem, caBundlePem });
          this.log.info('trust bundle changed; ca.pem rewritten');
        }
        if (reissue) {
          this.log.info('the control plane switched issuers; renewing the certificate now');
          await this.renew();
        }
      } catch (error) {
        next = failures + 1;
        this.failed('trust bundle', describeAgentFailure(error), Math.max(interval, this.backoff(failures)), isRefusal(error));
        if (isUnknownWorkload(error)) await this.reregister();
      }
      this.pollBundle(next);
    }, delay);
  }

  private async writeBootstrap(): Promise<void> {
    const workload = this.current?.workload as Workload | undefined;
    if (!workload) throw new Error('the server did not return the workload with the certificate; cannot write bootstrap.json');
    const bootstrap = grpcBootstrap({ workload, xdsAddress: this.listenAddress, certDir: this.options.outDir });
    await mkdir(this.options.outDir, { recursive: true });
    const file = path.join(this.options.outDir, 'bootstrap.json');
    const temp = `${file}.tmp`;
    await writeFile(temp, `${JSON.stringify(bootstrap, null, 2)}\n`, { mode: 0o644 });
    await rename(temp, file);
    this.log.debug({ file, certFile: path.join(this.options.outDir, CERT_FILE) }, 'gRPC bootstrap written');
  }
}
