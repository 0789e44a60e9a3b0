import * as grpc from '@grpc/grpc-js';

type CertificateProvider = grpc.experimental.CertificateProvider;
type CaListener = grpc.experimental.CaCertificateUpdateListener;
type IdentityListener = grpc.experimental.IdentityCertificateUpdateListener;

/**
 * The xDS port's own TLS identity, held in memory and pushed to grpc-js through the certificate
 * provider interface, so the server's certificate and the CA bundle it presents can change without
 * a restart (leaf rotation, and every phase of a root rotation). New handshakes use the new
 * material; established connections keep theirs.
 */
export class XdsServerCredentials implements CertificateProvider {
  private ca: grpc.experimental.CaCertificateUpdate | null = null;
  private identity: grpc.experimental.IdentityCertificateUpdate | null = null;
  private readonly caListeners = new Set<CaListener>();
  private readonly identityListeners = new Set<IdentityListener>();

  update(material: { caBundlePem?: string; certChainPem?: string; keyPem?: string }): void {
    if (material.caBundlePem !== undefined) {
      this.ca = { caCertificate: Buffer.from(material.caBundlePem) };
      for (const listener of this.caListeners) listener(this.ca);
    }
    if (material.certChainPem !== undefined && material.keyPem !== undefined) {
      this.identity = { certificate: Buffer.from(material.certChainPem), privateKey: Buffer.from(material.keyPem) };
      for (const listener of this.identityListeners) listener(this.identity);
    }
  }

  credentials(): grpc.ServerCredentials {
    // Proxies authenticate with their workload token; a client certificate is not required.
    return grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
  }

  addCaCertificateListener(listener: CaListener): void {
    this.caListeners.add(listener);
    // Asynchronously, as grpc-js registers its own watcher only after adding this listener.
    setImmediate(() => {
      if (this.ca && this.caListeners.has(listener)) listener(this.ca);
    });
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.caListeners.delete(listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.add(listener);
    setImmediate(() => {
      if (this.identity && this.identityListeners.has(listener)) listener(this.identity);
    });
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.identityListeners.delete(listener);
  }
}
