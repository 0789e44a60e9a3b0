import { writeFile, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Workload } from '../core/workload.js';
import { grpcBootstrap } from '../mesh/bootstrap/index.js';
import { CertFileWriter, CERT_FILE } from './cert-files.js';
import { AgentHttpError, CertificateClient, type AgentCertificate } from './certificate-client.js';
import { XdsProxy } from './xds-proxy.js';

export interface AgentOptions {
  readonly token: string;
  /** The control plane's HTTP API: one URL, or several replicas to fail over between. */
  readonly servers: readonly string[];
  readonly xds: readonly string[];
  readonly outDir: string;
  readonly listen: string;
  readonly logger: Logger;
  /** How often the trust bundle is re-read (root rotation, CRL-driven changes). */
  readonly bundlePollMs?: number;
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
  private readonly options: AgentOptions;
  listenPort = 0;

  constructor(options: AgentOptions) {
    // The bootstrap names the certificate files; a gRPC client may run from another directory.
    this.options = { ...options, outDir: path.resolve(options.outDir) };
    this.files = new CertFileWriter(this.options.outDir);
    this.client = new CertificateClient(options.servers, options.token);
    this.log = options.logger.child({ component: 'agent' });
  }

  async start(): Promise<void> {
    await this.renew();
    this.proxy = new XdsProxy({ upstreams: this.options.xds, token: this.options.token, logger: this.options.logger });
    this.listenPort = await this.proxy.listen(this.options.listen);
    await this.writeBootstrap();
    this.pollBundle();
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
      const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** attempt);
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

  /** Follows trust-bundle changes (a root rotation adds the new root before any leaf uses it). */
  private pollBundle(): void {
    if (this.stopped) return;
    this.bundleTimer = setTimeout(async () => {
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
