import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { MeshSpec } from '../core/policy.js';
import { spiffeId as makeSpiffeId } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import type { CaRuntime } from './ca-runtime.js';
import { rotationPoint } from './secret-issuer.js';
import { XdsServerCredentials } from './xds-server-credentials.js';

const XDS_SERVER_NAMESPACE = 'accord-system';
const XDS_SERVER_ACCOUNT = 'accord';

/** The control plane's own TLS material (PEM). `keyPem` must never be logged. */
export interface ServerCertificate {
  readonly caBundlePem: string;
  readonly certChainPem: string;
  readonly keyPem: string;
}
type ServerCertificateListener = (material: ServerCertificate) => void;

export interface ServerCertificatesDeps {
  readonly runtime: CaRuntime;
  /** Bound host (`--host`) and extra names (`--tls-san`). */
  readonly host: string;
  readonly tlsSans: readonly string[];
  readonly mesh: () => MeshSpec;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
}

/** Names for the control plane's certificate: loopback, the bound host (unless a wildcard) and `--tls-san`. */
function serverNames(host: string, tlsSans: readonly string[]): { dnsNames: string[]; ipAddresses: string[] } {
  const names = new Set(['localhost', '127.0.0.1', '::1', ...tlsSans]);
  if (host !== '0.0.0.0' && host !== '::') names.add(host);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of names) (isIP(name) === 0 ? dnsNames : ipAddresses).push(name);
  return { dnsNames, ipAddresses };
}

/**
 * The control plane's own server certificate (xDS port, and HTTPS with --http-tls), from the mesh
 * CA: rotated before it expires and re-issued when a root rotation switches issuers.
 */
export class ServerCertificates {
  private current: ServerCertificate | undefined;
  private readonly listeners = new Set<ServerCertificateListener>();
  private timer: TimerHandle | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: ServerCertificatesDeps) {
    this.log = deps.logger.child({ component: 'identity' });
  }

  spiffeId(): string {
    return makeSpiffeId(this.deps.runtime.trustDomain, XDS_SERVER_NAMESPACE, XDS_SERVER_ACCOUNT);
  }

  /** TLS for the xDS port that follows the CA; the bundle it presents is the phase's (old+new during a rotation). */
  xdsCredentials(): grpc.ServerCredentials {
    const provider = new XdsServerCredentials();
    this.onChange((material) => provider.update(material));
    return provider.credentials();
  }

  /**
   * Calls `listener` now and whenever the certificate changes (rotation, root rotation). It names
   * the control plane's SPIFFE ID and, for clients that check host names (HTTPS), `localhost`, the
   * loopback addresses, the bound host and `--tls-san` names.
   */
  onChange(listener: ServerCertificateListener): () => void {
    this.listeners.add(listener);
    if (!this.current) this.refresh();
    else listener(this.current);
    return () => this.listeners.delete(listener);
  }

  refresh(): void {
    if (this.listeners.size === 0) return;
    const { runtime, clock } = this.deps;
    const now = clock.now();
    // Clients trust the control plane through a CA file refreshed from `accord ca bundle` (old+new
    // from P1): switch its certificate to the new root only in P3.
    const next = runtime.rotation?.nextCa;
    const ca = next && runtime.rotation?.active?.phase === 'P3_REMOVE_TRUST' ? next : runtime.ca;
    const { dnsNames, ipAddresses } = serverNames(this.deps.host, this.deps.tlsSans);
    const leaf = ca.issue({ spiffeId: this.spiffeId(), dnsNames, ipAddresses, now, ttlMs: Math.max(this.deps.mesh().certificates.ttlMs, 3_600_000) });
    this.current = { caBundlePem: runtime.bundlePem(), certChainPem: leaf.certChainPem, keyPem: leaf.keyPem };
    for (const listener of this.listeners) listener(this.current);
    this.log.info({ serial: leaf.serial, notAfter: new Date(leaf.notAfter).toISOString(), dnsNames, ipAddresses }, 'control-plane server certificate issued');
    clock.clearTimeout(this.timer);
    this.timer = clock.setTimeout(() => this.refresh(), Math.max(1000, rotationPoint(this.deps.mesh(), now, leaf.notAfter, this.deps.random) - now));
  }

  close(): void {
    this.deps.clock.clearTimeout(this.timer);
  }
}
