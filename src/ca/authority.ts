import 'reflect-metadata';
import crypto from 'node:crypto';
import net from 'node:net';
import * as x509 from '@peculiar/x509';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { createCrl, crlNeedsRefresh, type SignedCrl } from './crl.js';
import { pemDecodeAll, pemEncode } from './der.js';
import { IssuanceError } from './errors.js';
import { generateLeafKey, publicKeyBitsOf, sha256Fingerprint, unacceptableKeyReason, type KeyAlgorithm } from './keys.js';
import { buildLeafTbs, createLeafTemplate, signLeafTbs, type LeafTemplate } from './leaf-template.js';
import { expirySeverity, nextIntermediateAt, type ExpirySeverity } from './lifecycle.js';
import type { CaMaterial } from './material.js';
import { RevocationList, normalizeSerial, parseSerial, type RevokedCertificate } from './revocation.js';
import { MAX_CERTIFICATE_TTL_MS } from '../core/policy.js';
import { assertSpiffeIdInDomain, assertTrustDomain } from './spiffe.js';

export const DEFAULT_LEAF_TTL_MS = 24 * 3600_000;
export const DEFAULT_BACKDATE_MS = 60_000;
export const DEFAULT_CRL_TTL_MS = 24 * 3600_000;
/** A CSR is a few hundred bytes (RSA-8192: about 2 KB); anything far larger is refused unparsed. */
export const MAX_CSR_PEM_BYTES = 16 * 1024;

export interface CertificateAuthorityOptions {
  readonly material: CaMaterial;
  readonly trustDomain: string;
  readonly logger: Logger;
  /** Registers `accord_ca_cert_expiry_seconds{cert}` here when given. */
  readonly metrics?: Registry;
  readonly leafTtlMs?: number;
  /**
   * The longest leaf this CA issues (default: the Mesh policy's upper bound). A revoked serial the
   * CA did not issue itself stays in the CRL this long, as it may belong to such a leaf.
   */
  readonly maxLeafTtlMs?: number;
  /** `notBefore` is this far in the past, for clock skew. */
  readonly backdateMs?: number;
  readonly keyAlgorithm?: KeyAlgorithm;
  /** CRL validity (`nextUpdate - thisUpdate`); refreshed at half of it. */
  readonly crlTtlMs?: number;
  /** Revocations persisted by the caller, if any. */
  readonly revocations?: RevocationList;
}

/** A certificate the CA signed; PEM chain is leaf + intermediates, never the root. */
export interface IssuedCertificate {
  readonly spiffeId: string;
  readonly certChainPem: string;
  /** Lower-case hex, no sign padding. */
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** SHA-256 (hex) of the issuing CA certificate's DER. */
  readonly issuerFingerprint: string;
}

/** A leaf issued together with its freshly generated key. `keyPem` must never be logged. */
export interface IssuedLeaf extends IssuedCertificate {
  readonly keyPem: string;
}

export interface LeafRequest {
  readonly spiffeId: string;
  /** Extra DNS / IP SANs (e.g. the xDS server's own certificate); not supported by IssuancePool. */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly now: number;
  /** Defaults to the CA's leaf TTL. */
  readonly ttlMs?: number;
  readonly keyAlgorithm?: KeyAlgorithm;
}

export interface CaCertStatus {
  readonly cert: 'root' | 'intermediate';
  readonly subject: string;
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly secondsLeft: number;
  readonly severity: ExpirySeverity;
}

export interface CaStatus {
  readonly trustDomain: string;
  readonly certs: readonly CaCertStatus[];
  /** When the next intermediate should be prepared (ms); absent when the root issues directly or no root key. */
  readonly nextIntermediateAt?: number;
  readonly revokedCertificates: number;
  /** The worst severity over all CA certificates. */
  readonly severity: ExpirySeverity;
}

/** Everything the worker-thread pool needs to issue leaves exactly as `issue` does. */
export interface LeafJobTemplate {
  readonly issuerKeyPem: string;
  readonly hash: string;
  readonly versionDer: Uint8Array;
  readonly signatureAlgorithmDer: Uint8Array;
  readonly issuerNameDer: Uint8Array;
  readonly fixedExtensionsDer: Uint8Array;
  readonly chainPem: string;
}

/** The per-leaf inputs the CA decides (serial, validity) before a worker does keygen and signing. */
export interface LeafJob {
  readonly spiffeId: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

const DNS_NAME = /^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

const SEVERITY_ORDER: readonly ExpirySeverity[] = ['ok', 'warning', 'critical', 'expired'];

/**
 * Issues SPIFFE leaf certificates from an intermediate, signs agents' CSRs, revokes and publishes
 * CRLs. Issuing is synchronous and uses a precomputed DER template (see leaf-template.ts).
 */
export class CertificateAuthority {
  readonly trustDomain: string;
  readonly leafTtlMs: number;
  readonly maxLeafTtlMs: number;
  readonly backdateMs: number;
  readonly keyAlgorithm: KeyAlgorithm;
  readonly crlTtlMs: number;
  readonly revocations: RevocationList;
  private readonly logger: Logger;
  private readonly serialEntropy = new RandomBytes();
  private readonly expiryGauge?: Gauge<'cert'>;
  /** The expiry severity last logged per CA certificate (`cert:notAfter`). */
  private readonly reportedSeverity = new Map<string, ExpirySeverity>();
  private material: CaMaterial;
  private template: LeafTemplate;
  private chainSuffixPem: string;
  private issuerFingerprintHex: string;
  private cachedCrl?: { signed: SignedCrl; revision: number; issuerFingerprint: string };
  private crlNumber = 0;

  constructor(options: CertificateAuthorityOptions) {
    assertTrustDomain(options.trustDomain);
    this.trustDomain = options.trustDomain;
    this.logger = options.logger;
    this.leafTtlMs = options.leafTtlMs ?? DEFAULT_LEAF_TTL_MS;
    this.maxLeafTtlMs = Math.max(options.maxLeafTtlMs ?? MAX_CERTIFICATE_TTL_MS, this.leafTtlMs);
    this.backdateMs = options.backdateMs ?? DEFAULT_BACKDATE_MS;
    this.keyAlgorithm = options.keyAlgorithm ?? 'ec-p256';
    this.crlTtlMs = options.crlTtlMs ?? DEFAULT_CRL_TTL_MS;
    this.revocations = options.revocations ?? new RevocationList();
    if (!(this.leafTtlMs > 0)) throw new IssuanceError('INVALID_TTL', 'leafTtlMs', 'must be a positive number of milliseconds');
    this.material = options.material;
    this.template = createLeafTemplate(options.material.issuer.certPem, options.material.issuer.keyPem);
    this.chainSuffixPem = options.material.chainPem.join('');
    this.issuerFingerprintHex = fingerprintOfPem(options.material.issuer.certPem);
    if (options.metrics) this.expiryGauge = expiryGauge(options.metrics);
  }

  /** Switches to new material (e.g. a renewed intermediate). Leaves issued before stay valid. */
  useMaterial(material: CaMaterial): void {
    this.template = createLeafTemplate(material.issuer.certPem, material.issuer.keyPem);
    this.material = material;
    this.chainSuffixPem = material.chainPem.join('');
    this.issuerFingerprintHex = fingerprintOfPem(material.issuer.certPem);
    this.logger.info({ issuerFingerprint: this.issuerFingerprintHex }, 'CA issuer switched');
  }

  /** Adopts rotated workload-token keys (the issuer is unchanged). */
  useTokenKeys(material: Pick<CaMaterial, 'tokenKey' | 'previousTokenKey'>): void {
    this.material = { ...this.material, tokenKey: material.tokenKey, previousTokenKey: material.previousTokenKey };
  }

  get currentMaterial(): CaMaterial {
    return this.material;
  }

  /** SHA-256 fingerprint (hex) of the certificate that signs leaves now. */
  get issuerFingerprint(): string {
    return this.issuerFingerprintHex;
  }

  /** The trust anchors peers need: the root only (intermediates travel in chains). */
  trustBundlePem(): string {
    return this.material.root.certPem;
  }

  /** A new key and a leaf for `spiffeId`. Throws IssuanceError. */
  issue(request: LeafRequest): IssuedLeaf {
    const job = this.planLeaf(request);
    const key = generateLeafKey(request.keyAlgorithm ?? this.keyAlgorithm);
    const certPem = this.signLeaf(job, key.spkiDer, key.publicKeyBits);
    this.revocations.recordIssued(job.spiffeId, job.serial, job.notAfter);
    return { ...this.issuedFrom(job, certPem), keyPem: key.privateKeyPem };
  }

  /**
   * Signs an agent's CSR. The identity is `spiffeId`, established by the caller's authentication;
   * names and extensions requested in the CSR are ignored. The CSR's signature must verify.
   */
  async signCsr(request: {
    readonly csrPem: string;
    readonly spiffeId: string;
    readonly now: number;
    readonly ttlMs?: number;
    /** Called once the CSR is found acceptable, just before signing (e.g. to charge a rate limit); may throw. */
    readonly admit?: () => void;
  }): Promise<IssuedCertificate> {
    const job = this.planLeaf(request);
    if (request.csrPem.length > MAX_CSR_PEM_BYTES) {
      throw new IssuanceError('INVALID_CSR', 'csrPem', `longer than ${MAX_CSR_PEM_BYTES} bytes; a CSR for an accepted key is far smaller`);
    }
    // Any failure to read the request is the caller's: a tampered or truncated CSR is a 400.
    let spkiDer: Buffer;
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(request.csrPem);
      spkiDer = Buffer.from(csr.publicKey.rawData);
    } catch {
      throw new IssuanceError('INVALID_CSR', 'csrPem', 'not a PEM PKCS#10 certificate request');
    }
    const refused = unacceptableKeyReason(spkiDer);
    if (refused) throw new IssuanceError('UNSUPPORTED_KEY', 'csrPem', refused);
    let valid: boolean;
    let publicKeyBits: Buffer;
    try {
      valid = await csr.verify();
      publicKeyBits = publicKeyBitsOf(spkiDer);
    } catch {
      valid = false;
      publicKeyBits = Buffer.alloc(0);
    }
    if (!valid) throw new IssuanceError('INVALID_CSR', 'csrPem', 'signature does not verify (tampered, or not signed by the key it carries)');
    request.admit?.();
    const certPem = this.signLeaf(job, spkiDer, publicKeyBits);
    this.revocations.recordIssued(job.spiffeId, job.serial, job.notAfter);
    return this.issuedFrom(job, certPem);
  }

  /**
   * Checks the request and fixes serial and validity. Exposed for the worker pool, which does the
   * key generation and signing of planned jobs elsewhere; call `recordIssued` for what it returns.
   */
  planLeaf(request: {
    readonly spiffeId: string;
    readonly now: number;
    readonly ttlMs?: number;
    readonly dnsNames?: readonly string[];
    readonly ipAddresses?: readonly string[];
  }): LeafJob {
    assertSpiffeIdInDomain(request.spiffeId, this.trustDomain);
    for (const [i, name] of (request.dnsNames ?? []).entries()) {
      if (!DNS_NAME.test(name)) throw new IssuanceError('INVALID_SAN', `dnsNames[${i}]`, `"${name}" is not a DNS name`);
    }
    for (const [i, ip] of (request.ipAddresses ?? []).entries()) {
      if (net.isIP(ip) === 0) throw new IssuanceError('INVALID_SAN', `ipAddresses[${i}]`, `"${ip}" is not an IP address`);
    }
    if (this.revocations.isIdentityRevoked(request.spiffeId)) {
      throw new IssuanceError('REVOKED', 'spiffeId', `"${request.spiffeId}" is revoked; no new certificates are issued to it`);
    }
    const ttlMs = request.ttlMs ?? this.leafTtlMs;
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new IssuanceError('INVALID_TTL', 'ttlMs', 'must be a positive number of milliseconds');
    if (ttlMs > this.maxLeafTtlMs) throw new IssuanceError('INVALID_TTL', 'ttlMs', `must not exceed ${this.maxLeafTtlMs} ms, the longest leaf this CA issues`);
    const notBefore = Math.floor((request.now - this.backdateMs) / 1000) * 1000;
    const notAfter = Math.floor(Math.min(request.now + ttlMs, this.template.issuerNotAfterMs) / 1000) * 1000;
    if (notAfter <= request.now) {
      throw new IssuanceError('ISSUER_EXPIRED', 'issuer', `the issuing CA expires at ${new Date(this.template.issuerNotAfterMs).toISOString()}`);
    }
    return {
      spiffeId: request.spiffeId,
      ...(request.dnsNames?.length ? { dnsNames: request.dnsNames } : {}),
      ...(request.ipAddresses?.length ? { ipAddresses: request.ipAddresses } : {}),
      serial: randomSerial(this.serialEntropy),
      notBefore,
      notAfter,
    };
  }

  /** The issuer-dependent parts, for issuing in worker threads. Contains the issuer key: never log. */
  leafJobTemplate(): LeafJobTemplate {
    return {
      issuerKeyPem: this.material.issuer.keyPem,
      hash: this.template.scheme.hash,
      versionDer: this.template.versionDer,
      signatureAlgorithmDer: this.template.signatureAlgorithmDer,
      issuerNameDer: this.template.issuerNameDer,
      fixedExtensionsDer: this.template.fixedExtensionsDer,
      chainPem: this.chainSuffixPem,
    };
  }

  recordIssued(job: LeafJob): void {
    this.revocations.recordIssued(job.spiffeId, job.serial, job.notAfter);
  }

  issuedFrom(job: LeafJob, leafPem: string): IssuedCertificate {
    return {
      spiffeId: job.spiffeId,
      certChainPem: leafPem + this.chainSuffixPem,
      serial: job.serial,
      notBefore: job.notBefore,
      notAfter: job.notAfter,
      issuerFingerprint: this.issuerFingerprintHex,
    };
  }

  private signLeaf(job: LeafJob, spkiDer: Buffer, publicKeyBits: Buffer): string {
    const tbs = buildLeafTbs(this.template, {
      serial: Buffer.from(job.serial, 'hex'),
      notBeforeMs: job.notBefore,
      notAfterMs: job.notAfter,
      spiffeId: job.spiffeId,
      dnsNames: job.dnsNames,
      ipAddresses: job.ipAddresses,
      spkiDer,
      publicKeyBits,
    });
    return pemEncode('CERTIFICATE', signLeafTbs(this.template, tbs));
  }

  /**
   * Revokes one certificate; it appears in the next CRL. A serial this CA did not record (another
   * replica's, or one issued before a restart) is kept as long as the longest leaf could live.
   * Throws IssuanceError(INVALID_SERIAL) for anything but hex of at most 20 octets.
   */
  revokeSerial(serial: string, now: number): RevokedCertificate {
    const parsed = parseSerial(serial);
    const entry = this.revocations.revokeSerial(parsed, now, Math.min(now + this.maxLeafTtlMs + this.backdateMs, this.template.issuerNotAfterMs));
    this.logger.warn({ serial: entry.serial, spiffeId: entry.spiffeId }, 'certificate revoked');
    return entry;
  }

  /** Revokes every live certificate of the identity and refuses it new ones. */
  revokeIdentity(spiffeId: string, now: number): RevokedCertificate[] {
    assertSpiffeIdInDomain(spiffeId, this.trustDomain);
    const revoked = this.revocations.revokeIdentity(spiffeId, now);
    this.logger.warn({ spiffeId, certificates: revoked.length }, 'identity revoked');
    return revoked;
  }

  isRevoked(serial: string): boolean {
    return this.revocations.isSerialRevoked(normalizeSerial(serial));
  }

  /**
   * The issuing CA's CRL, re-signed when a revocation happened, the issuer changed, or half of its
   * validity has passed (so it never reaches `nextUpdate` in a proxy).
   */
  async crlPem(now: number): Promise<SignedCrl> {
    const current = this.cachedCrl;
    if (
      current &&
      current.revision === this.revocations.revision &&
      current.issuerFingerprint === this.issuerFingerprintHex &&
      !crlNeedsRefresh(current.signed, now)
    ) {
      return current.signed;
    }
    this.revocations.prune(now);
    const signed = await createCrl({
      issuer: this.material.issuer,
      entries: this.revocations.activeEntries(now),
      thisUpdate: Math.floor((now - this.backdateMs) / 1000) * 1000,
      nextUpdate: Math.floor((now + this.crlTtlMs) / 1000) * 1000,
      crlNumber: ++this.crlNumber,
    });
    this.cachedCrl = { signed, revision: this.revocations.revision, issuerFingerprint: this.issuerFingerprintHex };
    this.logger.info({ crlNumber: signed.crlNumber, entries: this.revocations.activeEntries(now).length }, 'CRL signed');
    return signed;
  }

  /**
   * An empty CRL from the root for the intermediate level, for verifiers that check CRLs at every
   * level (node:tls `crl`, Envoy without `only_verify_leaf_cert_crl`). Undefined without the root key.
   */
  async rootCrlPem(now: number): Promise<SignedCrl | undefined> {
    const keyPem = this.material.root.keyPem;
    if (!keyPem) return undefined;
    return createCrl({
      issuer: { certPem: this.material.root.certPem, keyPem },
      entries: [],
      thisUpdate: Math.floor((now - this.backdateMs) / 1000) * 1000,
      nextUpdate: Math.floor((now + this.crlTtlMs) / 1000) * 1000,
      crlNumber: 1,
    });
  }

  /**
   * Updates `accord_ca_cert_expiry_seconds` and logs a warning when a CA certificate's expiry
   * severity changes to anything but ok (once per change, not per call). Run on a schedule.
   */
  checkExpiry(now: number): CaStatus {
    const status = this.status(now);
    for (const cert of status.certs) {
      this.expiryGauge?.set({ cert: cert.cert }, cert.secondsLeft);
      const key = `${cert.cert}:${cert.notAfter}`;
      if (this.reportedSeverity.get(key) === cert.severity) continue;
      this.reportedSeverity.set(key, cert.severity);
      if (cert.severity !== 'ok') {
        this.logger.warn(
          { cert: cert.cert, subject: cert.subject, notAfter: new Date(cert.notAfter).toISOString(), severity: cert.severity },
          'CA certificate expires soon',
        );
      }
    }
    return status;
  }

  /** Expiry of every CA certificate (no side effects: health probes call it). */
  status(now: number): CaStatus {
    const certs: CaCertStatus[] = [certStatus('root', this.material.root.certPem, now)];
    const issuerIsRoot = this.material.issuer.certPem === this.material.root.certPem;
    if (!issuerIsRoot) certs.push(certStatus('intermediate', this.material.issuer.certPem, now));
    const intermediate = certs.find((cert) => cert.cert === 'intermediate');
    const severity = certs.reduce<ExpirySeverity>(
      (worst, cert) => (SEVERITY_ORDER.indexOf(cert.severity) > SEVERITY_ORDER.indexOf(worst) ? cert.severity : worst),
      'ok',
    );
    return {
      trustDomain: this.trustDomain,
      certs,
      nextIntermediateAt:
        intermediate && this.material.root.keyPem ? nextIntermediateAt(intermediate, { maxLeafTtlMs: this.leafTtlMs }) : undefined,
      revokedCertificates: this.revocations.activeEntries(now).length,
      severity,
    };
  }
}

function certStatus(name: 'root' | 'intermediate', pem: string, now: number): CaCertStatus {
  const cert = new crypto.X509Certificate(pem);
  const notBefore = Date.parse(cert.validFrom);
  const notAfter = Date.parse(cert.validTo);
  return {
    cert: name,
    subject: cert.subject.replace(/\n/g, ', '),
    fingerprint: fingerprintOfPem(pem),
    notBefore,
    notAfter,
    secondsLeft: Math.floor((notAfter - now) / 1000),
    severity: expirySeverity({ notBefore, notAfter }, now),
  };
}

function expiryGauge(registry: Registry): Gauge<'cert'> {
  const name = 'accord_ca_cert_expiry_seconds';
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Gauge) return existing as Gauge<'cert'>;
  return new Gauge({
    name,
    help: 'Seconds until each CA certificate (root, intermediate) expires',
    labelNames: ['cert'],
    registers: [registry],
  });
}

export function fingerprintOfPem(pem: string): string {
  const [der] = pemDecodeAll('CERTIFICATE', pem);
  if (!der) throw new Error('fingerprintOfPem: no PEM CERTIFICATE block');
  return sha256Fingerprint(der);
}

/**
 * 128 random bits (DER adds a 0x00 when the high bit is set, so the INTEGER stays positive). A zero
 * first byte is replaced so the hex form always has 32 digits and matches what parsers print.
 */
function randomSerial(entropy: RandomBytes): string {
  const bytes = entropy.take(16);
  if (bytes[0] === 0) bytes[0] = 0x01;
  return bytes.toString('hex');
}

/**
 * Cryptographically random bytes drawn from a buffer filled 4 KB at a time: one call into the
 * CSPRNG per 256 serial numbers instead of one per certificate (a fleet's start issues thousands).
 */
class RandomBytes {
  private readonly pool = Buffer.allocUnsafeSlow(4096);
  private used = this.pool.length;

  take(length: number): Buffer {
    if (this.used + length > this.pool.length) {
      crypto.randomFillSync(this.pool);
      this.used = 0;
    }
    // A copy: the caller may change it, and the pool's next fill must not change the caller's.
    const out = Buffer.from(this.pool.subarray(this.used, this.used + length));
    this.pool.fill(0, this.used, this.used + length);
    this.used += length;
    return out;
  }
}
