import { writeFile, rename, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import type { Logger } from '../observability/logger.js';
import type { Workload } from '../core/workload.js';
import { grpcBootstrap } from '../mesh/bootstrap/index.js';
import { CertFileWriter, CERT_FILE } from './cert-files.js';
import { AgentHttpError, CertificateClient, type AgentCertificate } from './certificate-client.js';
import { XdsProxy } from './xds-proxy.js';
import { grpcAddress, parseListenAddress, type ListenAddress } from './listen-address.js';

export interface AgentOptions {
  readonly token: string;
  /** The control plane's HTTP API: one URL, or several replicas to fail over between. */
  readonly servers: readonly string[];
  readonly xds: readonly string[];
  readonly outDir: string;
  /** `unix:PATH` or a loopback `HOST:PORT`; by default `unix:<outDir>/xds.sock`. */
  readonly listen?: string;
  readonly logger: Logger;
  /** How often the trust bundle is re-read (root rotation, CRL-driven changes). */
  readonly bundlePollMs?: number;
  /** CA bundle (PEM) to trust when the control plane's HTTP API is HTTPS (`--ca-file`). */
  readonly caBundlePem?: string;
}

/** The renewed workload token is kept here (0600), so a restarted agent uses it rather than an expired one. */
export const TOKEN_FILE = 'token';
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
const RETRY_MAX_MS = 15_000;

/**
 * `accord agent`: keeps a proxyless workload's certificate files current (key generated locally,
 * certificate by CSR, rotated before expiry, trust bundle followed) and forwards its xDS streams
 * to the control plane with the workload's credentials.
 */
export class Agent {
  private readonly files: CertFileWriter;
  private readonly client: CertificateClient;
  private proxy: XdsProxy | undefined;
  private current: AgentCertificate | undefined;
  private bundle: string | undefined;
  private rotationTimer: NodeJS.Timeout | undefined;
  private bundleTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly listen: ListenAddress;
  private token: string;
  private tokenRenewalAfter = 0;
  listenPort = 0;

  constructor(private readonly options: AgentOptions) {
    this.listen = parseListenAddress(options.listen, options.outDir);
    this.files = new CertFileWriter(options.outDir);
    this.token = options.token;
    this.client = new CertificateClient(options.servers, () => this.token, options.caBundlePem);
    this.log = options.logger.child({ component: 'agent' });
  }

  /** The workload token in use now (the one given, or a renewal of it). */
  get currentToken(): string {
    return this.token;
  }

  async start(): Promise<void> {
    await this.adoptSavedToken();
    await this.renew();
    // The proxy reads the token for every upstream stream, so renewals reach new streams.
    this.proxy = new XdsProxy({ upstreams: this.options.xds, token: () => this.token, logger: this.options.logger });
    this.listenPort = await this.proxy.listen(this.listen);
    await this.writeBootstrap();
    this.pollBundle();
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
    if (this.rotationTimer) clearTimeout(this.rotationTimer);
    if (this.bundleTimer) clearTimeout(this.bundleTimer);
    await this.proxy?.close();
  }

  /** Gets a new certificate (retrying with backoff), writes the files, schedules the next rotation. */
  private async renew(attempt = 0): Promise<void> {
    try {
      const certificate = await this.client.fetchCertificate();
      await this.files.write({ certChainPem: certificate.certChainPem, keyPem: certificate.keyPem, caBundlePem: certificate.caBundlePem });
      this.current = certificate;
      this.bundle = certificate.caBundlePem;
      this.log.info({ serial: certificate.serial, spiffeId: certificate.spiffeId, notAfter: new Date(certificate.notAfter).toISOString() }, 'certificate written');
      this.schedule(Math.max(0, certificate.rotateAt - Date.now()));
    } catch (error) {
      const backoff = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
      const delay = error instanceof AgentHttpError && error.retryAfterMs !== undefined ? Math.max(backoff, error.retryAfterMs) : backoff;
      const permanent = error instanceof AgentHttpError && (error.status === 401 || error.status === 403);
      this.log[permanent ? 'error' : 'warn']({ err: error, retryInMs: delay }, 'could not get a certificate; the current files stay in place');
      if (this.current === undefined && attempt >= 5 && permanent) throw error;
      if (this.current === undefined) {
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (!this.stopped) return this.renew(attempt + 1);
        return;
      }
      this.schedule(delay, attempt + 1);
    }
  }

  private schedule(delayMs: number, attempt = 0): void {
    if (this.stopped) return;
    if (this.rotationTimer) clearTimeout(this.rotationTimer);
    this.rotationTimer = setTimeout(() => void this.renew(attempt), Math.min(delayMs, 2 ** 31 - 1));
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
  private pollBundle(): void {
    if (this.stopped) return;
    this.bundleTimer = setTimeout(async () => {
      await this.renewTokenIfDue();
      try {
        const { caBundlePem, reissue } = await this.client.fetchBundle();
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
        this.log.debug({ err: error }, 'trust bundle poll failed');
      }
      this.pollBundle();
    }, this.options.bundlePollMs ?? 2_000);
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
