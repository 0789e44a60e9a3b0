import { IssuanceError, rotationTime, type IssuancePool, tlsCertificateSecret, validationContextSecret, type TlsCertificateSecret, type ValidationContextSecret } from '../ca/index.js';
import type { MeshSpec } from '../core/policy.js';
import type { Workload } from '../core/workload.js';
import type { IssuanceLimiter } from './issuance-limiter.js';
import type { WorkloadRevocations } from './revocations.js';
import type { TrustLedger } from './trust-ledger.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from './secret-names.js';

/** `request`: a caller asked (rate-limited per workload); `rotation`: the control plane's own schedule. */
export type IssueTrigger = 'request' | 'rotation';

/** A workload leaf as the `default` SDS secret (plain proto-JSON; the xDS side encodes it). */
export interface IssuedLeaf {
  readonly secret: TlsCertificateSecret;
  readonly serial: string;
  readonly issuer: string;
  readonly notAfter: number;
  /** When to rotate (ms since epoch). */
  readonly rotateAt: number;
}

/** The `ROOTCA` secret for one workload, and the roots it carries. */
export interface TrustBundle {
  /** Built on demand: callers cache it by `fingerprints`. */
  secret(): ValidationContextSecret;
  readonly fingerprints: readonly string[];
}

/** An agent's certificate, signed from its CSR. */
export interface SignedCsr {
  readonly certChainPem: string;
  readonly caBundlePem: string;
  /** The roots in `caBundlePem`. */
  readonly trust: readonly string[];
  readonly serial: string;
  readonly issuer: string;
  readonly spiffeId: string;
  readonly notAfter: number;
  readonly rotateAt: number;
}

export interface SecretIssuerDeps {
  readonly ledger: TrustLedger;
  readonly revocations: WorkloadRevocations;
  readonly limiter: IssuanceLimiter;
  readonly mesh: () => MeshSpec;
  readonly spiffeIdOf: (workload: Workload) => string;
  readonly random: () => number;
  /** Worker threads for SDS leaves' keygen and signing; without it they are issued on this thread. */
  readonly pool?: IssuancePool;
}

/**
 * Rotation point over the lifetime as issued (now → notAfter). `notBefore` is backdated for clock
 * skew; measuring from it would pull short-lived certificates' rotation into the past.
 */
export function rotationPoint(mesh: MeshSpec, now: number, notAfter: number, random: () => number): number {
  const { rotateAt, jitter } = mesh.certificates;
  return rotationTime({ notBefore: now, notAfter }, now, random, { rotateAt, jitter });
}

/**
 * Issues every workload certificate: SDS leaves and agents' CSRs, from the CA the trust ledger
 * picks for that proxy, refused for revoked workloads and (on request) rate-limited. Records each
 * serial for revocation. Returns plain secrets; it holds no per-proxy state.
 */
export class SecretIssuer {
  constructor(private readonly deps: SecretIssuerDeps) {}

  /** How often a workload legitimately needs a new leaf: the issuance limiter never refills slower than twice that. */
  private rotationIntervalMs(): number {
    const { ttlMs, rotateAt } = this.deps.mesh().certificates;
    return ttlMs * rotateAt;
  }

  async issueLeaf(workload: Workload, now: number, trigger: IssueTrigger): Promise<IssuedLeaf> {
    this.refuseRevoked(workload);
    if (trigger === 'request') this.deps.limiter.take(workload.id, this.rotationIntervalMs());
    const ca = this.deps.ledger.issuingCa(workload.id, 'sds');
    const request = { spiffeId: this.deps.spiffeIdOf(workload), now, ttlMs: this.deps.mesh().certificates.ttlMs };
    const leaf = this.deps.pool ? await this.deps.pool.issue(ca, request) : ca.issue(request);
    // Revoked while a worker was signing: the leaf is dropped here, its key never having left this process.
    if (this.deps.pool) this.refuseRevoked(workload);
    this.deps.revocations.recordIssued(workload.id, leaf.serial, leaf.notAfter);
    return {
      secret: tlsCertificateSecret(DEFAULT_SECRET, leaf.certChainPem, leaf.keyPem),
      serial: leaf.serial,
      issuer: leaf.issuerFingerprint,
      notAfter: leaf.notAfter,
      rotateAt: rotationPoint(this.deps.mesh(), now, leaf.notAfter, this.deps.random),
    };
  }

  private refuseRevoked(workload: Workload): void {
    if (this.deps.revocations.isRevoked(workload.id)) {
      throw new IssuanceError('REVOKED', 'workload', `"${workload.id}" is revoked; no new certificates are issued to it`);
    }
  }

  trustBundle(workloadId: string): TrustBundle {
    const { pem, fingerprints } = this.deps.ledger.trustOf(workloadId, 'sds');
    return { secret: () => validationContextSecret(ROOTCA_SECRET, pem, this.deps.revocations.crlPem), fingerprints };
  }

  async signCsr(workload: Workload, csrPem: string, now: number): Promise<SignedCsr> {
    const spiffeId = this.deps.spiffeIdOf(workload);
    const ca = this.deps.ledger.issuingCa(workload.id, 'agent');
    const issued = await ca.signCsr({
      csrPem,
      spiffeId,
      now,
      ttlMs: this.deps.mesh().certificates.ttlMs,
      admit: () => this.deps.limiter.take(workload.id, this.rotationIntervalMs()),
    });
    this.deps.revocations.recordIssued(workload.id, issued.serial, issued.notAfter);
    const trust = this.deps.ledger.trustOf(workload.id, 'agent');
    return {
      certChainPem: issued.certChainPem,
      caBundlePem: trust.pem,
      trust: trust.fingerprints,
      serial: issued.serial,
      issuer: issued.issuerFingerprint,
      spiffeId,
      notAfter: issued.notAfter,
      rotateAt: rotationPoint(this.deps.mesh(), now, issued.notAfter, this.deps.random),
    };
  }
}
