import type { Registry } from 'prom-client';
import { repeatAsync, type Clock, type TimerHandle } from '../core/clock.js';
import type { MeshSpec } from '../core/policy.js';
import type { Logger } from '../observability/logger.js';
import type { Store } from '../registry/store.js';
import {
  CertificateAuthority,
  DEFAULT_SHARED_CA_KEY,
  RootRotation,
  TokenError,
  WorkloadTokens,
  kekFromEnv,
  loadOrCreateCaMaterial,
  phaseTrustPem,
  renewIntermediateIfDue,
  type CaKv,
  type CaMaterial,
  type CaSource,
  type FleetView,
  type Kek,
  type WorkloadClaims,
} from '../ca/index.js';
import { seal as sealCa } from '../ca/envelope.js';
import { serializeCaMaterial } from '../ca/material.js';
import { loadSharedCaWithContinuity } from './ca-continuity.js';
import { DataDirGenerationStore, SharedGenerationStore, type CaGenerationStore } from './ca-generations.js';
import { DataDirKv } from './data-dir-kv.js';
import { RootRotationCoordinator } from './root-rotation-coordinator.js';

export const DEFAULT_TRUST_DOMAIN = 'mesh.local';
/** How often a replica looks for token keys another replica rotated (also on a token naming an unknown key). */
const TOKEN_KEY_REFRESH_MS = 5_000;
const INTERMEDIATE_CHECK_MS = 3_600_000;

function tokenKeysOf(material: CaMaterial): string {
  return JSON.stringify([material.tokenKey, material.previousTokenKey?.key, material.previousTokenKey?.until]);
}

function tokensOf(material: CaMaterial): WorkloadTokens {
  return WorkloadTokens.hs256(material.tokenKey, material.previousTokenKey);
}

/** Where the CA material comes from and how it is sealed (the `accord serve` CA flags). */
export interface CaOptions {
  readonly trustDomain?: string;
  /** With Redis every replica shares one sealed copy of the material. */
  readonly redisUrl?: string;
  readonly dataDir: string;
  /** Key-encryption key for CA material kept in Redis (base64 or hex of 32 bytes). */
  readonly caKek?: string;
  /** Its id (recorded in every envelope); default: a fingerprint of the key. */
  readonly caKekId?: string;
  /** The KEK being rotated out: material sealed with it is still read, then re-sealed with `caKek`. */
  readonly caKekPrevious?: string;
  readonly caKekPreviousId?: string;
  /** A sealed CA backup (`accord ca backup`) restored when the store holds no CA material. */
  readonly caBackupFile?: string;
  /** Mint a new root although this data dir served another one (the store lost its CA material). */
  readonly allowNewRoot: boolean;
  /** Operator-supplied CA files. */
  readonly caCertFile?: string;
  readonly caKeyFile?: string;
  readonly caRootFile?: string;
}

interface MaterialSetup {
  readonly source: CaSource;
  /** Seals backups (and, with Redis, the shared material); undefined without ACCORD_CA_KEK. */
  readonly kek: Kek | undefined;
  /** Where a root rotation keeps the next generation; undefined when rotation cannot run here. */
  readonly generations: CaGenerationStore | undefined;
}

function kekOf(options: CaOptions): Kek | undefined {
  return kekFromEnv({
    ACCORD_CA_KEK: options.caKek,
    ACCORD_CA_KEK_ID: options.caKekId,
    ACCORD_CA_KEK_PREVIOUS: options.caKekPrevious,
    ACCORD_CA_KEK_PREVIOUS_ID: options.caKekPreviousId,
  });
}

function materialSetup(options: CaOptions, kv: CaKv): MaterialSetup {
  const kek = kekOf(options);
  if (options.caRootFile || options.caCertFile) {
    const rootCertFile = options.caRootFile ?? options.caCertFile;
    if (!rootCertFile) throw new Error('--ca-root is required with operator-supplied CA files');
    const source: CaSource =
      options.caCertFile && options.caRootFile
        ? { kind: 'pem-files', rootCertFile, intermediateCertFile: options.caCertFile, intermediateKeyFile: options.caKeyFile }
        : { kind: 'pem-files', rootCertFile, rootKeyFile: options.caKeyFile };
    // Operator-supplied roots are rotated by the operator (new files, then a restart).
    return { source, kek, generations: undefined };
  }
  if (options.redisUrl) {
    if (!kek) {
      throw new Error(
        'with --redis, replicas must sign with one shared CA: set ACCORD_CA_KEK (32 bytes, hex or base64) or supply CA files (--ca-root/--ca-cert/--ca-key)',
      );
    }
    return { source: { kind: 'shared', kv, kek }, kek, generations: new SharedGenerationStore(kv, kek, DEFAULT_SHARED_CA_KEY) };
  }
  return { source: { kind: 'data-dir', dataDir: options.dataDir }, kek, generations: new DataDirGenerationStore(options.dataDir) };
}

export interface CaRuntimeDeps {
  readonly options: CaOptions;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly mesh: () => MeshSpec;
  readonly clock: Clock;
  /** The fleet a root-rotation gate waits for (the trust ledger's view). */
  readonly fleet: () => FleetView;
  /** The root-rotation phase changed: what every proxy trusts or is issued may change. */
  readonly onPhaseChange: () => void;
  /** The intermediate changed (renewal): the previous one's CRL must keep being published. */
  readonly onIssuerChange: () => Promise<void>;
}

/**
 * The CA as it runs on this replica: its material (from the options: data dir, shared store or
 * operator files), the intermediate's renewal, the root rotation's next generation, and the
 * workload-token keys stored with the material.
 */
export class CaRuntime {
  private stopTokenKeyRefresh: () => void = () => undefined;
  private intermediateTimer: TimerHandle | undefined;
  private closed = false;
  /** The intermediate replaced by a renewal, while leaves it signed may still be valid. */
  private previousIssuer: { ca: CertificateAuthority; until: number } | undefined;
  /** When the stored token keys were last read because a token named a key not held here. */
  private tokenKeysReadAt = 0;
  /** The token keys `tokens` holds (see `tokenKeysOf`). */
  private heldTokenKeys: string;
  private tokenSigner: WorkloadTokens;
  readonly rotation: RootRotationCoordinator | undefined;
  readonly generations: CaGenerationStore | undefined;
  readonly kek: Kek | undefined;
  readonly sharedSource: boolean;
  private readonly log: Logger;

  private constructor(
    readonly ca: CertificateAuthority,
    readonly kv: CaKv,
    setup: MaterialSetup,
    private readonly deps: CaRuntimeDeps,
  ) {
    this.generations = setup.generations;
    this.kek = setup.kek;
    this.sharedSource = setup.source.kind === 'shared';
    this.log = deps.logger.child({ component: 'identity' });
    this.heldTokenKeys = tokenKeysOf(ca.currentMaterial);
    this.tokenSigner = tokensOf(ca.currentMaterial);
    const generations = setup.generations;
    this.rotation = generations
      ? new RootRotationCoordinator({
          rotation: new RootRotation(kv),
          generations,
          current: ca,
          makeCa: (material) => this.makeCa(material),
          fleet: deps.fleet,
          onPhaseChange: deps.onPhaseChange,
          logger: deps.logger,
          now: () => deps.clock.now(),
          clock: deps.clock,
        })
      : undefined;
  }

  static async open(deps: CaRuntimeDeps): Promise<CaRuntime> {
    const { options } = deps;
    const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const logger = deps.logger.child({ component: 'ca' });
    const storeKv: CaKv = { kvGet: (key) => deps.store.kvGet(key), kvPutIfVersion: (key, value, version) => deps.store.kvPutIfVersion(key, value, version) };
    // Redis keeps the CA's state for every replica; the memory store forgets it, so the data dir keeps it.
    const kv: CaKv = options.redisUrl ? storeKv : await DataDirKv.open(options.dataDir, logger);
    const setup = materialSetup(options, kv);
    const material =
      setup.source.kind === 'shared'
        ? await loadSharedCaWithContinuity({
            kv: setup.source.kv,
            kek: setup.source.kek,
            key: DEFAULT_SHARED_CA_KEY,
            dataDir: options.dataDir,
            trustDomain,
            backupFile: options.caBackupFile,
            allowNewRoot: options.allowNewRoot,
            logger,
          })
        : await loadOrCreateCaMaterial(setup.source, { trustDomain, now: deps.clock.now(), logger });
    const ca = new CertificateAuthority({ material, trustDomain, logger, metrics: deps.metrics });
    ca.checkExpiry(deps.clock.now());
    return new CaRuntime(ca, kv, setup, deps);
  }

  get trustDomain(): string {
    return this.ca.trustDomain;
  }

  get tokens(): WorkloadTokens {
    return this.tokenSigner;
  }

  /** Starts the root-rotation upkeep, the intermediate's renewal and (shared material) the token-key refresh. */
  start(): void {
    this.rotation?.start();
    void this.maintainIntermediate();
    // Only replicas sharing the material through Redis can see a rotation made elsewhere.
    if (this.sharedSource) this.stopTokenKeyRefresh = repeatAsync(this.deps.clock, TOKEN_KEY_REFRESH_MS, () => this.refreshTokenKeys(), () => undefined);
  }

  close(): void {
    this.closed = true;
    this.deps.clock.clearTimeout(this.intermediateTimer);
    this.stopTokenKeyRefresh();
    this.rotation?.stop();
  }

  /** The trust bundle for unauthenticated readers: the widest set of the rotation phase. */
  bundlePem(): string {
    const active = this.rotation?.active;
    return active ? phaseTrustPem(active) : this.ca.trustBundlePem();
  }

  /** Issuers other than the current one whose leaves may still be in use (their CRLs travel too). */
  otherIssuers(): CertificateAuthority[] {
    const others: CertificateAuthority[] = [];
    if (this.rotation?.nextCa) others.push(this.rotation.nextCa);
    if (this.previousIssuer && this.previousIssuer.until > this.deps.clock.now()) others.push(this.previousIssuer.ca);
    return others;
  }

  makeCa(material: CaMaterial): CertificateAuthority {
    return new CertificateAuthority({ material, trustDomain: this.ca.trustDomain, logger: this.deps.logger.child({ component: 'ca-next' }), revocations: this.ca.revocations });
  }

  // --- workload-token keys --------------------------------------------------------------------

  /** Verifies a token's signature and lifetime, re-reading keys another replica rotated moments ago. */
  async verifySignature(token: string, now: number): Promise<WorkloadClaims> {
    try {
      return await this.tokenSigner.verify(token, now);
    } catch (error) {
      // A key rotated on another replica moments ago: read the stored keys (at most once a second) and retry.
      const at = this.deps.clock.now();
      if (!(error instanceof TokenError) || error.code !== 'BAD_SIGNATURE' || !this.sharedSource || at - this.tokenKeysReadAt < 1_000) throw error;
      this.tokenKeysReadAt = at;
      const before = this.tokenSigner;
      await this.refreshTokenKeys();
      if (this.tokenSigner === before) throw error;
      return this.tokenSigner.verify(token, now);
    }
  }

  /** Stores new token keys (compare-and-set on `basedOn`) and adopts them; false when another replica won. */
  async replaceTokenKeys(store: CaGenerationStore, next: CaMaterial, basedOn: CaMaterial): Promise<boolean> {
    if (!(await store.replaceCurrent(next, basedOn))) return false;
    this.adoptTokenKeys(next);
    return true;
  }

  /** Adopts workload-token keys another replica rotated (stored with the CA material). */
  private async refreshTokenKeys(): Promise<void> {
    try {
      const stored = await this.generations?.loadCurrent();
      if (stored) this.adoptTokenKeys(stored);
    } catch (error) {
      this.log.warn({ err: error }, 'could not read the stored workload-token keys; keeping the ones held');
    }
  }

  private adoptTokenKeys(stored: CaMaterial): void {
    if (stored.root.certPem !== this.ca.currentMaterial.root.certPem) return;
    const keys = tokenKeysOf(stored);
    if (keys === this.heldTokenKeys) return;
    this.ca.useTokenKeys(stored);
    this.tokenSigner = tokensOf(stored);
    this.heldTokenKeys = keys;
    this.log.warn({ signingKeyId: this.tokenSigner.signingKeyId }, 'workload-token keys changed; new tokens are signed with the current key');
  }

  // --- intermediate renewal -------------------------------------------------------------------

  /**
   * Renews the intermediate (same root, no trust change) while the current one still outlives any
   * leaf it could sign, and adopts one another replica renewed. Checked at start and hourly.
   */
  private async maintainIntermediate(): Promise<void> {
    const generations = this.generations;
    try {
      if (generations && !this.rotation?.active) {
        const before = this.ca.currentMaterial;
        const stored = await generations.loadCurrent();
        if (stored && stored.root.certPem === before.root.certPem && stored.issuer.certPem !== before.issuer.certPem) {
          this.ca.useMaterial(stored);
        }
        if (stored) this.adoptTokenKeys(stored);
        const basedOn = this.ca.currentMaterial;
        const outcome = await renewIntermediateIfDue({
          ca: this.ca,
          now: this.deps.clock.now(),
          persist: (next) => generations.replaceCurrent(next, basedOn),
        });
        if (outcome === 'renewed') this.log.warn('intermediate CA renewed (same root); new leaves come from it');
        if (outcome === 'lost-race') {
          const winner = await generations.loadCurrent();
          if (winner) this.ca.useMaterial(winner);
        }
        if (outcome === 'no-root-key') this.log.error('the intermediate CA is due for renewal but the root key is not held here; renew it out of band');
        if (this.ca.currentMaterial.issuer.certPem !== before.issuer.certPem) {
          // Leaves from the old intermediate stay valid until they expire: keep publishing its CRL.
          this.previousIssuer = { ca: this.makeCa(before), until: this.deps.clock.now() + this.deps.mesh().certificates.ttlMs + this.ca.backdateMs };
          await this.deps.onIssuerChange();
        }
      }
      this.ca.checkExpiry(this.deps.clock.now());
    } catch (error) {
      this.log.error({ err: error }, 'intermediate CA maintenance failed; will retry');
    }
    if (this.closed) return;
    this.intermediateTimer = this.deps.clock.setTimeout(() => void this.maintainIntermediate(), INTERMEDIATE_CHECK_MS);
  }

  // --- backup and restore -----------------------------------------------------------------------

  /**
   * Puts material of the served root back into a shared store that lost it (put-if-absent): true
   * when it was written. Only meaningful for shared material; a data dir keeps its own.
   */
  async restoreShared(material: CaMaterial, kek: Kek): Promise<boolean> {
    if (!this.sharedSource) return false;
    return this.kv.kvPutIfVersion(DEFAULT_SHARED_CA_KEY, JSON.stringify(sealCa(kek, serializeCaMaterial(material), DEFAULT_SHARED_CA_KEY)), undefined);
  }
}
