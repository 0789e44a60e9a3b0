import { writeFile, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Workload } from '../core/workload.js';
import { grpcBootstrap } from '../mesh/bootstrap/index.js';
import { CertFileWriter, CERT_FILE } from './cert-files.js';
import { AgentHttpError, CertificateClient, describeAgentFailure, type AgentCertificate } from './certificate-client.js';
import { AgentStatusServer, type AgentHealth, type StatusAddress } from './status-server.js';
import { XdsProxy } from './xds-proxy.js';

export interface AgentOptions {
  readonly token: string;
  /** The control plane's HTTP API: one URL, or several replicas to fail over between. */
  readonly servers: readonly string[];
  readonly xds: readonly string[];
  readonly outDir: string;
  readonly listen: string;
  readonly logger: Logger;
  /** Where to serve `/healthz` and `/status`; undefined: nowhere. */
  readonly status?: StatusAddress;
  /** How often the trust bundle is re-read (root rotation, CRL-driven changes). */
  readonly bundlePollMs?: number;
  /** First retry delay after a failure; doubles up to `retryMaxMs`. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  /** Failures refused by the server (401/403) at start before the agent gives up. */
  readonly startAttempts?: number;
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
  private rotationTimer: NodeJS.Timeout | undefined;
  private bundleTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastFailure: Failure | undefined;
  private readonly consecutive = { certificate: 0, 'trust bundle': 0 };
  private readonly log: Logger;
  readonly startedAt = Date.now();
  listenPort = 0;
  statusAddress: string | undefined;

  constructor(options: AgentOptions) {
    // The bootstrap names the certificate files; a gRPC client may run from another directory.
    this.options = { ...options, outDir: path.resolve(options.outDir) };
    this.files = new CertFileWriter(this.options.outDir);
    this.client = new CertificateClient(options.servers, options.token);
    this.log = options.logger.child({ component: 'agent' });
  }

  async start(): Promise<void> {
    if (this.options.status) {
      this.statusServer = new AgentStatusServer({ health: () => this.health(), status: () => this.status() });
      this.statusAddress = await this.statusServer.listen(this.options.status);
      this.log.info({ status: this.statusAddress }, 'agent status at /healthz and /status');
    }
    try {
      await this.firstCertificate();
      if (this.stopped) return;
      this.proxy = new XdsProxy({
        upstreams: this.options.xds,
        token: this.options.token,
        logger: this.options.logger,
        onUpstreamFailure: (message) => this.failed('xds', message),
      });
      this.listenPort = await this.proxy.listen(this.options.listen).catch((error: unknown) => {
        const reason = error instanceof Error ? error.message : String(error);
        const inUse = /EADDRINUSE/.test(reason) ? 'the address is already in use' : reason;
        throw new Error(`cannot serve the local xDS proxy on ${this.options.listen} (--listen): ${inUse}`, { cause: error });
      });
      await this.writeBootstrap();
    } catch (error) {
      await this.close();
      throw error;
    }
    this.pollBundle(0);
    this.log.info({ listen: this.listenAddress, out: this.options.outDir, xds: this.options.xds }, 'agent running');
  }

  get listenAddress(): string {
    const host = this.options.listen.slice(0, this.options.listen.lastIndexOf(':'));
    return `${host}:${this.listenPort}`;
  }

  get certificate(): AgentCertificate | undefined {
    return this.current;
  }

  async close(): Promise<void> {
    this.stopped = true;
    if (this.rotationTimer) clearTimeout(this.rotationTimer);
    if (this.bundleTimer) clearTimeout(this.bundleTimer);
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
        const delay = this.backoff(attempt);
        if (refused && attempt + 1 >= attempts) {
          this.failed('certificate', describeAgentFailure(error), undefined, true);
          throw new Error(`giving up after ${attempt + 1} refusals: ${describeAgentFailure(error)}`, { cause: error });
        }
        this.failed('certificate', describeAgentFailure(error), delay, refused);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async obtain(): Promise<void> {
    const certificate = await this.client.fetchCertificate();
    await this.files.write({ certChainPem: certificate.certChainPem, keyPem: certificate.keyPem, caBundlePem: certificate.caBundlePem });
    this.current = certificate;
    this.bundle = certificate.caBundlePem;
    this.bundleFetchedAt = Date.now();
    this.recovered('certificate');
    this.log.info({ serial: certificate.serial, spiffeId: certificate.spiffeId, notAfter: new Date(certificate.notAfter).toISOString() }, 'certificate written');
    this.schedule(Math.max(0, certificate.rotateAt - Date.now()));
  }

  /** A renewal; on failure the current files stay and the next try backs off. */
  private async renew(attempt = 0): Promise<void> {
    try {
      await this.obtain();
    } catch (error) {
      const delay = this.backoff(attempt);
      this.failed('certificate', `${describeAgentFailure(error)}; the current files stay in place`, delay, isRefusal(error));
      this.schedule(delay, attempt + 1);
    }
  }

  private schedule(delayMs: number, attempt = 0): void {
    if (this.stopped) return;
    if (this.rotationTimer) clearTimeout(this.rotationTimer);
    this.rotationTimer = setTimeout(() => void this.renew(attempt), Math.min(delayMs, 2 ** 31 - 1));
  }

  /** Follows trust-bundle changes (a root rotation adds the new root before any leaf uses it). */
  private pollBundle(failures: number): void {
    if (this.stopped) return;
    const interval = this.options.bundlePollMs ?? 2_000;
    const delay = failures === 0 ? interval : Math.max(interval, this.backoff(failures - 1));
    this.bundleTimer = setTimeout(async () => {
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
