import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import { ServiceError } from '../core/errors.js';
import { IssuanceError, RotationPhaseError, fingerprintOfPem, tokenKeyId, type CaMaterial, type CaStatus } from '../ca/index.js';
import type { Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { issuedCertificates } from '../observability/mesh-metrics.js';
import type { CaRuntime } from './ca-runtime.js';
import { createCaBackup, openCaBackup, type CaBackup } from './ca-continuity.js';
import type { CaGenerationStore } from './ca-generations.js';
import type { WorkloadRevocations } from './revocations.js';
import type { RootRotationCoordinator } from './root-rotation-coordinator.js';
import type { SecretIssuer } from './secret-issuer.js';
import type { TrustLedger } from './trust-ledger.js';
import type { VerifiedWorkload, WorkloadAccess } from './workload-access.js';

/** Token ids as minted (128 random bits, base64url); anything else cannot be on the deny-list. */
const TOKEN_ID = /^[A-Za-z0-9_-]{16,64}$/;

export type RotationStatus = ReturnType<RootRotationCoordinator['status']>;

/** `GET /v1/ca/status` (times as ISO 8601). */
export interface CaStatusView extends Omit<CaStatus, 'certs'> {
  readonly certs: readonly (Omit<CaStatus['certs'][number], 'notBefore' | 'notAfter'> & { notBefore: string; notAfter: string })[];
  readonly revokedWorkloads: readonly string[];
  readonly rootRotation: RotationStatus | { phase: 'unavailable'; reason: string };
}

export interface AgentTokenRenewal {
  readonly token: string;
  readonly tokenId: string;
  /** ISO 8601. */
  readonly expiresAt: string;
}

export interface TokenKeyStatus {
  readonly signingKeyId: string | undefined;
  readonly previousKeyId?: string;
  readonly previousValidUntil?: string;
}

export interface SignedCertificate {
  readonly certChainPem: string;
  readonly caBundlePem: string;
  readonly serial: string;
  readonly spiffeId: string;
  readonly notAfter: string;
  readonly rotateAt: string;
  readonly workload: Workload;
}

export interface CaApiDeps {
  readonly runtime: CaRuntime;
  readonly access: WorkloadAccess;
  readonly issuer: SecretIssuer;
  readonly ledger: TrustLedger;
  readonly revocations: WorkloadRevocations;
  readonly workload: (id: string) => Workload | undefined;
  readonly tokenTtlMs: number;
  readonly now: () => number;
  readonly logger: Logger;
  readonly metrics: Registry;
}

const NO_ROTATION = 'no root rotation can run with operator-supplied CA files';

/**
 * The CA's HTTP operations (`/v1/ca/*`, the agent's CSR and bundle calls): checks the caller's
 * workload token, calls the identity modules, and turns their refusals into API errors.
 */
/** What the HTTP API's CA routes call (`CaOperations` in api/http.ts is its contract, checked in serve.ts). */
export class CaApi {
  private readonly log: Logger;

  constructor(private readonly deps: CaApiDeps) {
    this.log = deps.logger.child({ component: 'identity' });
  }

  bundlePem(): string {
    return this.deps.runtime.bundlePem();
  }

  status(): CaStatusView {
    const status = this.deps.runtime.ca.status(this.deps.now());
    return {
      ...status,
      certs: status.certs.map((cert) => ({ ...cert, notBefore: new Date(cert.notBefore).toISOString(), notAfter: new Date(cert.notAfter).toISOString() })),
      revokedWorkloads: this.deps.revocations.revokedWorkloads(),
      rootRotation: this.deps.runtime.rotation?.status() ?? { phase: 'unavailable', reason: 'operator-supplied CA files are rotated by the operator' },
    };
  }

  statusSummary(): { severity: string; trustDomain: string; rootRotation: string } {
    const status = this.deps.runtime.ca.status(this.deps.now());
    return { severity: status.severity, trustDomain: status.trustDomain, rootRotation: this.deps.runtime.rotation?.status().phase ?? 'unavailable' };
  }

  async rotate(): Promise<RotationStatus> {
    const rotation = this.deps.runtime.rotation;
    if (!rotation) {
      throw new ServiceError('CONFLICT', 'root rotation needs CA material Accord generated (data dir or shared); operator-supplied CA files are rotated by replacing them');
    }
    await rotation.begin(this.deps.runtime.trustDomain);
    return rotation.status();
  }

  async abortRotation(): Promise<RotationStatus> {
    return this.rotationStep((rotation) => rotation.abort());
  }

  async fence(workload: string): Promise<RotationStatus> {
    return this.rotationStep((rotation) => rotation.fence([workload, `agent:${workload}`]));
  }

  private async rotationStep(step: (rotation: RootRotationCoordinator) => Promise<unknown>): Promise<RotationStatus> {
    const rotation = this.deps.runtime.rotation;
    if (!rotation) throw new ServiceError('CONFLICT', NO_ROTATION);
    try {
      await step(rotation);
    } catch (error) {
      if (error instanceof RotationPhaseError) throw new ServiceError('CONFLICT', error.message);
      throw error;
    }
    return rotation.status();
  }

  /**
   * A new workload-token signing key. The old one keeps verifying the tokens it signed for one
   * maximum token lifetime (`--token-ttl`), or until `retireTokenKey`.
   */
  async rotateTokenKey(): Promise<TokenKeyStatus> {
    const generations = this.tokenKeyStore();
    const stored = (await generations.loadCurrent()) ?? this.deps.runtime.ca.currentMaterial;
    const now = this.deps.now();
    const previous = stored.previousTokenKey;
    if (previous && previous.until > now) {
      throw new ServiceError(
        'CONFLICT',
        `the previous token key still verifies tokens until ${new Date(previous.until).toISOString()}; retire it first (accord ca retire-token-key), which ends the tokens it signed`,
      );
    }
    const next: CaMaterial = { ...stored, tokenKey: randomBytes(32).toString('base64'), previousTokenKey: { key: stored.tokenKey, until: now + this.deps.tokenTtlMs } };
    await this.replaceTokenKeys(generations, next, stored);
    this.log.warn({ signingKeyId: this.deps.runtime.tokens.signingKeyId }, 'workload-token signing key rotated');
    return this.tokenKeyStatus();
  }

  /** Ends the previous token key at once: tokens it signed stop authenticating. */
  async retireTokenKey(): Promise<TokenKeyStatus> {
    const generations = this.tokenKeyStore();
    const stored = (await generations.loadCurrent()) ?? this.deps.runtime.ca.currentMaterial;
    if (stored.previousTokenKey) {
      await this.replaceTokenKeys(generations, { ...stored, previousTokenKey: undefined }, stored);
      this.log.warn({ signingKeyId: this.deps.runtime.tokens.signingKeyId }, 'previous workload-token key retired; tokens it signed no longer authenticate');
    }
    return this.tokenKeyStatus();
  }

  private async replaceTokenKeys(generations: CaGenerationStore, next: CaMaterial, stored: CaMaterial): Promise<void> {
    if (!(await this.deps.runtime.replaceTokenKeys(generations, next, stored))) {
      throw new ServiceError('CONFLICT', 'another replica changed the CA material at the same moment; try again');
    }
  }

  private tokenKeyStore(): CaGenerationStore {
    const generations = this.deps.runtime.generations;
    if (!generations) throw new ServiceError('CONFLICT', 'with operator-supplied CA files the token key is derived from the CA key; it changes with the CA files');
    return generations;
  }

  private tokenKeyStatus(): TokenKeyStatus {
    const signingKeyId = this.deps.runtime.tokens.signingKeyId;
    const previous = this.deps.runtime.ca.currentMaterial.previousTokenKey;
    if (!previous || previous.until <= this.deps.now()) return { signingKeyId };
    return { signingKeyId, previousKeyId: tokenKeyId(previous.key), previousValidUntil: new Date(previous.until).toISOString() };
  }

  /** The current CA material sealed with the KEK (`accord ca backup`). */
  backup(): CaBackup {
    const { runtime } = this.deps;
    if (!runtime.kek) throw new ServiceError('CONFLICT', 'a CA backup is sealed with the KEK: set ACCORD_CA_KEK (or ACCORD_CA_KEK_FILE) on this replica');
    this.log.warn('CA backup taken (sealed with the KEK)');
    return createCaBackup(runtime.ca.currentMaterial, runtime.kek, runtime.trustDomain, this.deps.now());
  }

  /**
   * Puts a backup's material back into a store that lost it (`accord ca restore`). Only the root
   * this replica serves can be restored: replacing a live root is a root rotation, not a restore.
   */
  async restore(backup: unknown): Promise<{ restored: boolean; rootFingerprint: string }> {
    const { runtime } = this.deps;
    const kek = runtime.kek;
    if (!kek) throw new ServiceError('CONFLICT', 'a CA backup is opened with the KEK: set ACCORD_CA_KEK (or ACCORD_CA_KEK_FILE) on this replica');
    let material: CaMaterial;
    try {
      material = openCaBackup(backup, kek, 'backup').material;
    } catch (error) {
      throw new ServiceError('INVALID_ARGUMENT', (error as Error).message, [{ field: 'backup', message: (error as Error).message }]);
    }
    const rootFingerprint = fingerprintOfPem(material.root.certPem);
    if (material.root.certPem !== runtime.ca.currentMaterial.root.certPem) {
      throw new ServiceError(
        'CONFLICT',
        `this replica serves root ${fingerprintOfPem(runtime.ca.currentMaterial.root.certPem)}, the backup holds ${rootFingerprint}: start replicas with --ca-backup on a store without CA material to restore another root`,
      );
    }
    // Put-if-absent: a store that holds material (this root's, checked above) is left as it is.
    const restored = await runtime.restoreShared(material, kek);
    if (restored) this.log.warn({ rootFingerprint }, 'CA material restored into the store from a backup');
    return { restored, rootFingerprint };
  }

  async revoke(target: { serial?: string; workload?: string }): Promise<{ revoked: string[]; crlPublished: true }> {
    let revoked: string[] = [];
    if (target.serial !== undefined) {
      revoked = await this.deps.revocations.revokeSerial(target.serial);
    } else if (target.workload !== undefined) {
      if (!this.deps.workload(target.workload) && !this.deps.revocations.hasIssuedTo(target.workload)) {
        throw new ServiceError('NOT_FOUND', `workload "${target.workload}" is not registered`);
      }
      revoked = await this.deps.revocations.revokeWorkload(target.workload);
    }
    return { revoked, crlPublished: true };
  }

  async signCsr(workloadToken: string, csrPem: string): Promise<SignedCertificate> {
    const now = this.deps.now();
    const claims = await this.workloadClaimsAt(workloadToken, now);
    const workload = this.deps.workload(claims.workloadId);
    if (!workload) throw new ServiceError('NOT_FOUND', `workload "${claims.workloadId}" is not registered (any more); no certificate is issued to it`);
    const signed = await this.deps.issuer.signCsr(workload, csrPem, now);
    const result = this.deps.ledger.recordAgentLeaf(workload.id, signed, signed.trust, now);
    issuedCertificates(this.deps.metrics).inc({ result });
    return {
      certChainPem: signed.certChainPem,
      caBundlePem: signed.caBundlePem,
      serial: signed.serial,
      spiffeId: signed.spiffeId,
      notAfter: new Date(signed.notAfter).toISOString(),
      rotateAt: new Date(signed.rotateAt).toISOString(),
      workload,
    };
  }

  /** An agent's trust bundle; `reissue` asks it for a new CSR now (a root rotation switched its issuer). */
  async agentBundle(workloadToken: string): Promise<{ caBundlePem: string; reissue: boolean }> {
    const now = this.deps.now();
    const claims = await this.workloadClaimsAt(workloadToken, now);
    if (!this.deps.workload(claims.workloadId)) throw new ServiceError('NOT_FOUND', `workload "${claims.workloadId}" is not registered (any more)`);
    const trust = this.deps.ledger.trustOf(claims.workloadId, 'agent');
    const reissue = this.deps.ledger.recordAgentBundle(claims.workloadId, trust.fingerprints, now);
    return { caBundlePem: trust.pem, reissue };
  }

  /** A new token for the workload the caller's (still valid) token names; the old one stays valid until it expires. */
  async renewToken(workloadToken: string): Promise<AgentTokenRenewal> {
    const now = this.deps.now();
    const claims = await this.workloadClaimsAt(workloadToken, now);
    const workload = this.deps.workload(claims.workloadId);
    if (!workload) throw new ServiceError('NOT_FOUND', `workload "${claims.workloadId}" is not registered (any more); no token is issued to it`);
    const minted = await this.deps.access.mintWithId(workload, now);
    this.log.info({ workloadId: workload.id, tokenId: minted.tokenId, renewedFrom: claims.tokenId }, 'workload token renewed');
    return { token: minted.token, tokenId: minted.tokenId, expiresAt: new Date(minted.expiresAt).toISOString() };
  }

  /** Denies one token by id on every replica, until any token of that id has expired. */
  async denyToken(tokenId: string): Promise<{ tokenId: string; deniedUntil: string }> {
    if (!TOKEN_ID.test(tokenId)) {
      throw new ServiceError('INVALID_ARGUMENT', 'tokenId must be a token id as minted (base64url, 16-64 characters)', [{ field: 'tokenId', message: 'not a token id' }]);
    }
    const until = await this.deps.access.denyToken(tokenId);
    return { tokenId, deniedUntil: new Date(until).toISOString() };
  }

  /** The workload a token names, registered or not (ServiceError 401/403 for a bad, denied or revoked one). */
  async workloadClaims(token: string): Promise<VerifiedWorkload> {
    return this.workloadClaimsAt(token, this.deps.now());
  }

  private async workloadClaimsAt(token: string, now: number): Promise<VerifiedWorkload> {
    try {
      return await this.deps.access.verifyToken(token, now);
    } catch (error) {
      if (error instanceof IssuanceError) throw new ServiceError('PERMISSION_DENIED', error.message);
      throw new ServiceError('UNAUTHENTICATED', `workload token rejected: ${(error as Error).message}`);
    }
  }
}
