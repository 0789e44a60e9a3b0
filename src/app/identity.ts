import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import type { MeshSpec } from '../core/policy.js';
import { spiffeId as makeSpiffeId, type Workload } from '../core/workload.js';
import { ApiError } from '../api/errors.js';
import type { CaOperations } from '../api/http.js';
import {
  CertificateAuthority,
  WorkloadTokens,
  kekFromEnv,
  loadOrCreateCaMaterial,
  rotationTime,
  tlsCertificateSecret,
  validationContextSecret,
  type CaSource,
  type CaKv,
} from '../ca/index.js';
import { TypeUrl, type EncodedResource } from '../xds/contract.js';
import type { ResourceEncoder } from '../xds/index.js';
import type { Store } from '../registry/store.js';
import type { ServeOptions } from './options.js';
import { DEFAULT_SECRET, ROOTCA_SECRET, type IssuedSecret, type WorkloadIdentity } from './mesh-source.js';
import type { TokenMinter } from './registry-service.js';

export const DEFAULT_TRUST_DOMAIN = 'mesh.local';

/** The CA's secret shapes are plain proto-JSON objects; the encoder takes them as generic messages. */
function asMessage(secret: object): Readonly<Record<string, unknown>> {
  return secret as Readonly<Record<string, unknown>>;
}
/** Workload tokens outlive certificates: a proxy keeps streaming across many rotations. */
const TOKEN_TTL_MS = 365 * 24 * 3600_000;
const XDS_SERVER_NAMESPACE = 'accord-system';
const XDS_SERVER_ACCOUNT = 'accord';

export interface IdentityServiceOptions {
  readonly options: ServeOptions;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly mesh: () => MeshSpec;
  readonly workload: (id: string) => Workload | undefined;
  readonly random?: () => number;
  readonly now?: () => number;
}

function caSource(options: ServeOptions, store: Store): CaSource {
  if (options.caRootFile || options.caCertFile) {
    const rootCertFile = options.caRootFile ?? options.caCertFile;
    if (!rootCertFile) throw new Error('--ca-root is required with operator-supplied CA files');
    return options.caCertFile && options.caRootFile
      ? { kind: 'pem-files', rootCertFile, intermediateCertFile: options.caCertFile, intermediateKeyFile: options.caKeyFile }
      : { kind: 'pem-files', rootCertFile, rootKeyFile: options.caKeyFile };
  }
  if (options.redisUrl) {
    const kek = kekFromEnv({ ACCORD_CA_KEK: options.caKek });
    if (!kek) {
      throw new Error(
        'with --redis, replicas must sign with one shared CA: set ACCORD_CA_KEK (32 bytes, hex or base64) or supply CA files (--ca-root/--ca-cert/--ca-key)',
      );
    }
    const kv: CaKv = { kvGet: (key) => store.kvGet(key), kvPutIfVersion: (key, value, version) => store.kvPutIfVersion(key, value, version) };
    return { kind: 'shared', kv, kek };
  }
  return { kind: 'data-dir', dataDir: options.dataDir };
}

/**
 * Workload identity for the control plane: the CA, workload tokens, the `default` and `ROOTCA`
 * secrets, revocation and the CA's HTTP operations.
 */
export class IdentityService implements WorkloadIdentity, CaOperations, TokenMinter {
  private encoder: ResourceEncoder | undefined;
  private trust: { key: string; resource: EncodedResource } | undefined;
  private crlPem: string | undefined;
  private readonly trustListeners = new Set<() => void>();
  private readonly revokedWorkloads = new Set<string>();
  private readonly issuedTo = new Map<string, Set<string>>();
  private crlTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly random: () => number;

  private constructor(
    private readonly ca: CertificateAuthority,
    private readonly tokens: WorkloadTokens,
    private readonly deps: IdentityServiceOptions,
  ) {
    this.log = deps.logger.child({ component: 'identity' });
    this.now = deps.now ?? Date.now;
    this.random = deps.random ?? Math.random;
  }

  static async create(deps: IdentityServiceOptions): Promise<IdentityService> {
    const trustDomain = deps.options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const logger = deps.logger.child({ component: 'ca' });
    const material = await loadOrCreateCaMaterial(caSource(deps.options, deps.store), { trustDomain, now: Date.now(), logger });
    const ca = new CertificateAuthority({ material, trustDomain, logger, metrics: deps.metrics });
    const service = new IdentityService(ca, WorkloadTokens.hs256(material.tokenKey), deps);
    ca.status(Date.now());
    return service;
  }

  get trustDomain(): string {
    return this.ca.trustDomain;
  }

  attachEncoder(encoder: ResourceEncoder): void {
    this.encoder = encoder;
    void this.refreshCrl();
  }

  // --- tokens -------------------------------------------------------------------------------

  async mint(claims: { workloadId: string; spiffeId: string }, now: number): Promise<string> {
    return this.tokens.mint({ ...claims, ttlMs: TOKEN_TTL_MS, now });
  }

  async verifyToken(token: string, now: number): Promise<{ workloadId: string; spiffeId: string }> {
    const claims = await this.tokens.verify(token, now);
    return { workloadId: claims.workloadId, spiffeId: claims.spiffeId };
  }

  // --- secrets --------------------------------------------------------------------------------

  spiffeIdOf(workload: Workload): string {
    return makeSpiffeId(this.ca.trustDomain, workload.namespace, workload.serviceAccount);
  }

  async issueSecret(workload: Workload, now: number): Promise<IssuedSecret> {
    if (this.revokedWorkloads.has(workload.id)) {
      throw new ApiError('PERMISSION_DENIED', `workload "${workload.id}" is revoked; no new certificates are issued to it`);
    }
    const settings = this.deps.mesh().certificates;
    const leaf = this.ca.issue({ spiffeId: this.spiffeIdOf(workload), now, ttlMs: settings.ttlMs });
    let serials = this.issuedTo.get(workload.id);
    if (!serials) this.issuedTo.set(workload.id, (serials = new Set()));
    serials.add(leaf.serial);
    const resource = this.requireEncoder().encode(TypeUrl.Secret, DEFAULT_SECRET, asMessage(tlsCertificateSecret(DEFAULT_SECRET, leaf.certChainPem, leaf.keyPem)));
    const rotateAt = this.rotateAt(now, leaf.notAfter);
    return { resource, serial: leaf.serial, notAfter: leaf.notAfter, rotateAt };
  }

  trustSecret(_workloadId: string): EncodedResource {
    const bundle = this.ca.trustBundlePem();
    const key = `${bundle}\n${this.crlPem ?? ''}`;
    if (this.trust?.key !== key) {
      const secret = validationContextSecret(ROOTCA_SECRET, bundle, this.crlPem);
      this.trust = { key, resource: this.requireEncoder().encode(TypeUrl.Secret, ROOTCA_SECRET, asMessage(secret)) };
    }
    return this.trust.resource;
  }

  onTrustChange(listener: () => void): () => void {
    this.trustListeners.add(listener);
    return () => this.trustListeners.delete(listener);
  }

  recordAck(_workloadId: string, _secretName: string, _version: string): void {
    // Root-rotation gates read acknowledgements from the transport's status; nothing to keep here yet.
  }

  mustReissue(_workloadId: string, _serial: string): boolean {
    // Only an issuer switch (root rotation P2) replaces valid leaves early; none is in flight.
    return false;
  }

  // --- CA operations (HTTP) -------------------------------------------------------------------

  bundlePem(): string {
    return this.ca.trustBundlePem();
  }

  status(): unknown {
    const status = this.ca.status(this.now());
    return {
      ...status,
      certs: status.certs.map((cert) => ({ ...cert, notBefore: new Date(cert.notBefore).toISOString(), notAfter: new Date(cert.notAfter).toISOString() })),
      revokedWorkloads: [...this.revokedWorkloads],
    };
  }

  statusSummary(): { severity: string; trustDomain: string } {
    const status = this.ca.status(this.now());
    return { severity: status.severity, trustDomain: status.trustDomain };
  }

  async rotate(): Promise<unknown> {
    throw new ApiError('UNAVAILABLE', 'root rotation is not available in this build');
  }

  async revoke(target: { serial?: string; workload?: string }): Promise<unknown> {
    const now = this.now();
    const revoked: string[] = [];
    if (target.serial) {
      revoked.push(this.ca.revokeSerial(target.serial, now).serial);
    } else if (target.workload) {
      const workload = this.deps.workload(target.workload);
      if (!workload && !this.issuedTo.has(target.workload)) throw new ApiError('NOT_FOUND', `workload "${target.workload}" is not registered`);
      this.revokedWorkloads.add(target.workload);
      for (const serial of this.issuedTo.get(target.workload) ?? []) {
        if (!this.ca.isRevoked(serial)) revoked.push(this.ca.revokeSerial(serial, now).serial);
      }
    }
    await this.refreshCrl();
    return { revoked, crlPublished: true };
  }

  async signCsr(workloadToken: string, csrPem: string): Promise<unknown> {
    const now = this.now();
    let claims: { workloadId: string; spiffeId: string };
    try {
      claims = await this.verifyToken(workloadToken, now);
    } catch (error) {
      throw new ApiError('UNAUTHENTICATED', `workload token rejected: ${(error as Error).message}`);
    }
    if (this.revokedWorkloads.has(claims.workloadId)) throw new ApiError('PERMISSION_DENIED', `workload "${claims.workloadId}" is revoked`);
    const workload = this.deps.workload(claims.workloadId);
    const spiffeId = workload ? this.spiffeIdOf(workload) : claims.spiffeId;
    const settings = this.deps.mesh().certificates;
    const issued = await this.ca.signCsr({ csrPem, spiffeId, now, ttlMs: settings.ttlMs });
    let serials = this.issuedTo.get(claims.workloadId);
    if (!serials) this.issuedTo.set(claims.workloadId, (serials = new Set()));
    serials.add(issued.serial);
    const rotateAt = this.rotateAt(now, issued.notAfter);
    return {
      certChainPem: issued.certChainPem,
      caBundlePem: this.ca.trustBundlePem(),
      serial: issued.serial,
      spiffeId,
      notAfter: new Date(issued.notAfter).toISOString(),
      rotateAt: new Date(rotateAt).toISOString(),
      workload,
    };
  }

  // --- the xDS server's own identity ----------------------------------------------------------

  xdsServerSpiffeId(): string {
    return makeSpiffeId(this.ca.trustDomain, XDS_SERVER_NAMESPACE, XDS_SERVER_ACCOUNT);
  }

  async xdsServerCredentials(): Promise<grpc.ServerCredentials> {
    const leaf = this.ca.issue({ spiffeId: this.xdsServerSpiffeId(), now: this.now(), ttlMs: 365 * 24 * 3600_000 });
    const notAfter = new X509Certificate(leaf.certChainPem).validTo;
    this.log.info({ serial: leaf.serial, notAfter }, 'xDS server certificate issued');
    return grpc.ServerCredentials.createSsl(Buffer.from(this.ca.trustBundlePem()), [
      { cert_chain: Buffer.from(leaf.certChainPem), private_key: Buffer.from(leaf.keyPem) },
    ], false);
  }

  close(): void {
    if (this.crlTimer) clearTimeout(this.crlTimer);
    this.crlTimer = undefined;
  }

  private async refreshCrl(): Promise<void> {
    const signed = await this.ca.crlPem(this.now());
    const changed = signed.pem !== this.crlPem;
    this.crlPem = signed.pem;
    if (this.crlTimer) clearTimeout(this.crlTimer);
    const refreshIn = Math.max(60_000, Math.floor((signed.nextUpdate - this.now()) / 2));
    this.crlTimer = setTimeout(() => void this.refreshCrl(), refreshIn);
    this.crlTimer.unref();
    if (changed) for (const listener of this.trustListeners) listener();
  }

  /**
   * Rotation point over the lifetime as issued (now → notAfter). `notBefore` is backdated for clock
   * skew; measuring from it would pull short-lived certificates' rotation into the past.
   */
  private rotateAt(now: number, notAfter: number): number {
    const { rotateAt, jitter } = this.deps.mesh().certificates;
    return rotationTime({ notBefore: now, notAfter }, now, this.random, { rotateAt, jitter });
  }

  private requireEncoder(): ResourceEncoder {
    if (!this.encoder) throw new Error('identity: attachEncoder() must run before secrets are built');
    return this.encoder;
  }
}
