import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { realClock, type Clock, type TimerHandle } from '../core/clock.js';
import * as grpc from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { issuedCertificates } from '../observability/mesh-metrics.js';
import type { MeshSpec } from '../core/policy.js';
import { spiffeId as makeSpiffeId, type Workload } from '../core/workload.js';
import { ApiError } from '../api/errors.js';
import type { AgentTokenRenewal, CaOperations } from '../api/http.js';
import {
  CertificateAuthority,
  DEFAULT_SHARED_CA_KEY,
  RootRotation,
  RotationPhaseError,
  renewIntermediateIfDue,
  IssuanceError,
  TokenError,
  WorkloadTokens,
  fingerprintOfPem,
  tokenKeyId,
  issuerFor,
  kekFromEnv,
  loadOrCreateCaMaterial,
  rotationTime,
  tlsCertificateSecret,
  trustFor,
  validationContextSecret,
  type CaKv,
  type CaMaterial,
  type CaSource,
  type Kek,
  type FleetView,
  type ProxyAckState,
  phaseTrustPem,
} from '../ca/index.js';
import { createCaBackup, loadSharedCaWithContinuity, openCaBackup, type CaBackup } from './ca-continuity.js';
import { seal as sealCa } from '../ca/envelope.js';
import { serializeCaMaterial } from '../ca/material.js';
import { DataDirGenerationStore, SharedGenerationStore, type CaGenerationStore } from './ca-generations.js';
import { RootRotationCoordinator } from './root-rotation.js';
import { XdsServerIdentity } from './xds-server-identity.js';
import { WorkloadRevocations } from './revocations.js';
import { DataDirKv } from './data-dir-kv.js';
import { IssuanceLimiter } from './issuance-limiter.js';
import { TokenDenyList } from './token-denylist.js';
import { TypeUrl, type EncodedResource } from '../xds/contract.js';
import type { ResourceEncoder } from '../xds/index.js';
import type { Store } from '../registry/store.js';
import type { ServeOptions } from './options.js';
import { DEFAULT_SECRET, ROOTCA_SECRET, type IssuedSecret, type WorkloadIdentity } from './mesh-source.js';
import type { TokenMinter } from './registry-service.js';
import type { VerifiedWorkload } from './mesh-source.js';

export const DEFAULT_TRUST_DOMAIN = 'mesh.local';
/** How often a replica looks for token keys another replica rotated (also on a token naming an unknown key). */
const TOKEN_KEY_REFRESH_MS = 5_000;

function tokenKeysOf(material: CaMaterial): string {
  return JSON.stringify([material.tokenKey, material.previousTokenKey?.key, material.previousTokenKey?.until]);
}

function tokensOf(material: CaMaterial): WorkloadTokens {
  return WorkloadTokens.hs256(material.tokenKey, material.previousTokenKey);
}

/** `request`: a caller asked (rate-limited per workload); `rotation`: the control plane's own schedule. */
export type IssueTrigger = 'request' | 'rotation';

/** The CA's secret shapes are plain proto-JSON objects; the encoder takes them as generic messages. */
function asMessage(secret: object): Readonly<Record<string, unknown>> {
  return secret as Readonly<Record<string, unknown>>;
}
/** Token ids as minted (128 random bits, base64url); anything else cannot be on the deny-list. */
const TOKEN_ID = /^[A-Za-z0-9_-]{16,64}$/;
const XDS_SERVER_NAMESPACE = 'accord-system';
const XDS_SERVER_ACCOUNT = 'accord';

export interface IdentityServiceOptions {
  readonly options: ServeOptions;
  readonly store: Store;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly mesh: () => MeshSpec;
  readonly workload: (id: string) => Workload | undefined;
  readonly workloads: () => Iterable<Workload>;
  /** The revoked callers changed (see `revokedCallers`). */
  readonly onRevokedCallersChange?: () => void;
  /** The deny-list of tokens changed: streams must be checked again (`streamDenial`). */
  readonly onDeniedTokensChange?: () => void;
  readonly random?: () => number;
  /** Time and timers (a fake one in tests); the real clock by default. */
  readonly clock?: Clock;
}

interface MaterialSetup {
  readonly source: CaSource;
  /** Seals backups (and, with Redis, the shared material); undefined without ACCORD_CA_KEK. */
  readonly kek: Kek | undefined;
  /** Where a root rotation keeps the next generation; undefined when rotation cannot run here. */
  readonly generations: CaGenerationStore | undefined;
}

function kekOf(options: ServeOptions): Kek | undefined {
  return kekFromEnv({
    ACCORD_CA_KEK: options.caKek,
    ACCORD_CA_KEK_ID: options.caKekId,
    ACCORD_CA_KEK_PREVIOUS: options.caKekPrevious,
    ACCORD_CA_KEK_PREVIOUS_ID: options.caKekPreviousId,
  });
}

function materialSetup(options: ServeOptions, kv: CaKv): MaterialSetup {
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

/** What one proxy (Envoy over SDS, or an agent writing files) last acknowledged. */
interface AckState {
  trust?: readonly string[];
  leafIssuer?: string;
  leafNotAfter?: number;
}

interface AgentState extends AckState {
  leafSerial?: string;
  /** When the agent last called (CSR or trust bundle). */
  lastSeenAt?: number;
  /** When the agent last fetched its trust bundle; it is in effect a file-watcher interval later. */
  trustFetchedAt?: number;
}

/** An agent's trust bundle is on disk and re-read by the proxyless client within this long. */
const AGENT_TRUST_SETTLE_MS = 2_500;

type TrustListener = (workloadId?: string) => void;

/** The control plane's own TLS material (PEM). `keyPem` must never be logged. */
export interface ServerCertificate {
  readonly caBundlePem: string;
  readonly certChainPem: string;
  readonly keyPem: string;
}
type ServerCertificateListener = (material: ServerCertificate) => void;

/** Names for the control plane's certificate: loopback, the bound host (unless a wildcard) and `--tls-san`. */
function serverNames(options: ServeOptions): { dnsNames: string[]; ipAddresses: string[] } {
  const names = new Set(['localhost', '127.0.0.1', '::1', ...options.tlsSans]);
  if (options.host !== '0.0.0.0' && options.host !== '::') names.add(options.host);
  const dnsNames: string[] = [];
  const ipAddresses: string[] = [];
  for (const name of names) (isIP(name) === 0 ? dnsNames : ipAddresses).push(name);
  return { dnsNames, ipAddresses };
}

/**
 * Workload identity for the control plane: the CA (and, during a root rotation, the next
 * generation), workload tokens, the per-proxy `default` and `ROOTCA` secrets, revocation, the
 * fleet view that gates a root rotation, and the CA's HTTP operations.
 */
export class IdentityService implements WorkloadIdentity, CaOperations, TokenMinter {
  private encoder: ResourceEncoder | undefined;
  private readonly trustSecrets = new Map<string, EncodedResource>();
  private readonly trustListeners = new Set<TrustListener>();
  /** Secret versions → what they carry, to turn ACKed versions into trust and issuer facts. */
  private readonly trustVersions = new Map<string, readonly string[]>();
  private readonly leafVersions = new Map<string, { issuer: string; notAfter: number; workloadId: string }>();
  private readonly proxies = new Map<string, AckState>();
  private readonly agents = new Map<string, AgentState>();
  private readonly currentLeaf = new Map<string, { serial: string; issuer: string; version: string; notAfter: number }>();
  private sdsWorkloads: () => Iterable<string> = () => [];
  private serverCertificate: ServerCertificate | undefined;
  private readonly serverCertificateListeners = new Set<ServerCertificateListener>();
  private intermediateTimer: TimerHandle | undefined;
  private closed = false;
  private serverCertificateTimer: TimerHandle | undefined;
  private readonly revocations: WorkloadRevocations;
  private readonly limiter: IssuanceLimiter;
  private readonly denied: TokenDenyList;
  private rootTrust: { pem: string; fingerprints: readonly string[] } | undefined;
  /** The intermediate replaced by a renewal, while leaves it signed may still be valid. */
  private previousIssuer: { ca: CertificateAuthority; until: number } | undefined;
  private readonly rotation: RootRotationCoordinator | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly now: () => number;
  private readonly random: () => number;
  private tokenKeyTimer: TimerHandle | undefined;
  private readonly generations: CaGenerationStore | undefined;
  private readonly kek: Kek | undefined;
  private readonly sharedSource: boolean;
  /** When the stored token keys were last read because a token named a key not held here. */
  private tokenKeysReadAt = 0;
  /** The token keys `tokens` holds (see `tokenKeysOf`). */
  private heldTokenKeys: string;

  private constructor(
    private readonly ca: CertificateAuthority,
    private tokens: WorkloadTokens,
    private readonly deps: IdentityServiceOptions,
    setup: MaterialSetup,
    private readonly kv: CaKv,
  ) {
    this.generations = setup.generations;
    this.kek = setup.kek;
    this.sharedSource = setup.source.kind === 'shared';
    this.log = deps.logger.child({ component: 'identity' });
    this.heldTokenKeys = tokenKeysOf(ca.currentMaterial);
    this.clock = deps.clock ?? realClock;
    this.now = () => this.clock.now();
    this.random = deps.random ?? Math.random;
    this.limiter = new IssuanceLimiter({ burst: deps.options.issueBurst, perMinute: deps.options.issuePerMinute }, this.now);
    this.denied = new TokenDenyList({ kv, logger: deps.logger, now: this.now, onChange: () => deps.onDeniedTokensChange?.() });
    this.revocations = new WorkloadRevocations({
      kv,
      ca,
      otherIssuers: () => {
        const others: CertificateAuthority[] = [];
        if (this.rotation?.nextCa) others.push(this.rotation.nextCa);
        if (this.previousIssuer && this.previousIssuer.until > this.now()) others.push(this.previousIssuer.ca);
        return others;
      },
      logger: deps.logger,
      now: this.now,
      onCrlChange: () => {
        this.trustSecrets.clear();
        this.fireTrustChange();
      },
      onRevokedWorkloadsChange: () => deps.onRevokedCallersChange?.(),
    });
    const generations = setup.generations;
    if (generations) {
      this.rotation = new RootRotationCoordinator({
        rotation: new RootRotation(kv),
        generations,
        current: ca,
        makeCa: (material) => this.makeCa(material),
        fleet: () => this.fleet(),
        onPhaseChange: () => {
          this.trustSecrets.clear();
          this.refreshServerCertificate();
          void this.revocations.refreshCrl().finally(() => this.fireTrustChange());
        },
        logger: deps.logger,
        now: this.now,
      });
    }
  }

  static async create(deps: IdentityServiceOptions): Promise<IdentityService> {
    const trustDomain = deps.options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    const logger = deps.logger.child({ component: 'ca' });
    const storeKv: CaKv = { kvGet: (key) => deps.store.kvGet(key), kvPutIfVersion: (key, value, version) => deps.store.kvPutIfVersion(key, value, version) };
    // Redis keeps the CA's state for every replica; the memory store forgets it, so the data dir keeps it.
    const kv: CaKv = deps.options.redisUrl ? storeKv : await DataDirKv.open(deps.options.dataDir, logger);
    const setup = materialSetup(deps.options, kv);
    const material =
      setup.source.kind === 'shared'
        ? await loadSharedCaWithContinuity({
            kv: setup.source.kv,
            kek: setup.source.kek,
            key: DEFAULT_SHARED_CA_KEY,
            dataDir: deps.options.dataDir,
            trustDomain,
            backupFile: deps.options.caBackupFile,
            allowNewRoot: deps.options.allowNewRoot,
            logger,
          })
        : await loadOrCreateCaMaterial(setup.source, { trustDomain, now: (deps.clock ?? realClock).now(), logger });
    const ca = new CertificateAuthority({ material, trustDomain, logger, metrics: deps.metrics });
    const service = new IdentityService(ca, tokensOf(material), deps, setup, kv);
    ca.status((deps.clock ?? realClock).now());
    // Revocations and denied tokens are in force before the first stream or request is served.
    await service.revocations.load();
    await service.denied.start();
    return service;
  }

  get trustDomain(): string {
    return this.ca.trustDomain;
  }

  /** Wires the encoder and the list of proxies that hold SDS secrets; starts CRL and rotation upkeep. */
  attach(encoder: ResourceEncoder, sdsWorkloads: () => Iterable<string>): void {
    this.encoder = encoder;
    this.sdsWorkloads = sdsWorkloads;
    this.revocations.start();
    this.rotation?.start();
    void this.maintainIntermediate();
    // Only replicas sharing the material through Redis can see a rotation made elsewhere.
    if (this.sharedSource) this.scheduleTokenKeyRefresh();
  }

  private scheduleTokenKeyRefresh(): void {
    this.tokenKeyTimer = this.clock.setTimeout(() => {
      void this.refreshTokenKeys().finally(() => {
        if (!this.closed) this.scheduleTokenKeyRefresh();
      });
    }, TOKEN_KEY_REFRESH_MS);
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
    this.tokens = tokensOf(stored);
    this.heldTokenKeys = keys;
    this.log.warn({ signingKeyId: this.tokens.signingKeyId }, 'workload-token keys changed; new tokens are signed with the current key');
  }

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
          now: this.now(),
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
          this.previousIssuer = { ca: this.makeCa(before), until: this.now() + this.deps.mesh().certificates.ttlMs + this.ca.backdateMs };
          await this.revocations.refreshCrl();
        }
      }
      this.ca.status(this.now());
    } catch (error) {
      this.log.error({ err: error }, 'intermediate CA maintenance failed; will retry');
    }
    if (this.closed) return;
    this.intermediateTimer = this.clock.setTimeout(() => void this.maintainIntermediate(), 3_600_000);
  }

  isWorkloadRevoked(workloadId: string): boolean {
    return this.revocations.isRevoked(workloadId);
  }

  /**
   * SPIFFE IDs whose every registered workload is revoked. Peers without CRL support (proxyless
   * gRPC) enforce revocation through RBAC at this granularity; Envoy peers also get the CRL.
   */
  revokedCallers(): string[] {
    if (this.revocations.revokedWorkloads().length === 0) return [];
    const live = new Map<string, boolean>();
    for (const workload of this.deps.workloads()) {
      const id = this.spiffeIdOf(workload);
      live.set(id, (live.get(id) ?? true) && this.revocations.isRevoked(workload.id));
    }
    return [...live].filter(([, allRevoked]) => allRevoked).map(([id]) => id);
  }

  private makeCa(material: CaMaterial): CertificateAuthority {
    return new CertificateAuthority({ material, trustDomain: this.ca.trustDomain, logger: this.deps.logger.child({ component: 'ca-next' }), revocations: this.ca.revocations });
  }

  // --- tokens -------------------------------------------------------------------------------

  async mint(claims: { workloadId: string; spiffeId: string }, now: number): Promise<string> {
    return this.tokens.mint({ ...claims, ttlMs: this.deps.options.tokenTtlMs, now });
  }

  /**
   * The workload a token names, if the token verifies, is not on the deny-list and its workload is
   * not revoked. Throws TokenError (401) or IssuanceError REVOKED (403).
   */
  async verifyToken(token: string, now: number): Promise<VerifiedWorkload> {
    let claims;
    try {
      claims = await this.tokens.verify(token, now);
    } catch (error) {
      // A key rotated on another replica moments ago: read the stored keys (at most once a second) and retry.
      if (!(error instanceof TokenError) || error.code !== 'BAD_SIGNATURE' || !this.sharedSource || this.now() - this.tokenKeysReadAt < 1_000) throw error;
      this.tokenKeysReadAt = this.now();
      const before = this.tokens;
      await this.refreshTokenKeys();
      if (this.tokens === before) throw error;
      claims = await this.tokens.verify(token, now);
    }
    const verified: VerifiedWorkload = { workloadId: claims.workloadId, spiffeId: claims.spiffeId, tokenId: claims.tokenId, issuedAt: claims.issuedAt };
    this.assertAllowed(verified);
    return verified;
  }

  /** Why a stream authenticated with these claims may no longer be served (undefined: it may). */
  streamDenial(claims: VerifiedWorkload): string | undefined {
    if (this.revocations.isRevoked(claims.workloadId)) return `workload "${claims.workloadId}" is revoked`;
    return this.denied.denial(claims);
  }

  private assertAllowed(claims: VerifiedWorkload): void {
    if (this.revocations.isRevoked(claims.workloadId)) {
      throw new IssuanceError('REVOKED', 'workload', `"${claims.workloadId}" is revoked; its tokens and certificates are refused`);
    }
    const denial = this.denied.denial(claims);
    if (denial) throw new TokenError('DENIED', `token: ${denial}`);
  }

  /** A new token for the workload the caller's (still valid) token names; the old one stays valid until it expires. */
  async renewToken(workloadToken: string): Promise<AgentTokenRenewal> {
    const now = this.now();
    const claims = await this.agentClaims(workloadToken, now);
    const workload = this.deps.workload(claims.workloadId);
    if (!workload) throw new ApiError('NOT_FOUND', `workload "${claims.workloadId}" is not registered (any more); no token is issued to it`);
    const minted = await this.tokens.mintWithId({ workloadId: workload.id, spiffeId: this.spiffeIdOf(workload), ttlMs: this.deps.options.tokenTtlMs, now });
    this.log.info({ workloadId: workload.id, tokenId: minted.tokenId, renewedFrom: claims.tokenId }, 'workload token renewed');
    return { token: minted.token, tokenId: minted.tokenId, expiresAt: new Date(minted.expiresAt).toISOString() };
  }

  /** Denies one token by id on every replica, until any token of that id has expired. */
  async denyToken(tokenId: string): Promise<{ tokenId: string; deniedUntil: string }> {
    if (!TOKEN_ID.test(tokenId)) {
      throw new ApiError('INVALID_ARGUMENT', 'tokenId must be a token id as minted (base64url, 16-64 characters)', [{ field: 'tokenId', message: 'not a token id' }]);
    }
    const until = this.now() + this.deps.options.tokenTtlMs;
    await this.denied.denyToken(tokenId, until);
    return { tokenId, deniedUntil: new Date(until).toISOString() };
  }

  /** Every token issued to the workload so far is refused (deregistration). */
  async denyWorkloadTokens(workloadId: string): Promise<void> {
    const now = this.now();
    await this.denied.denyWorkload(workloadId, now, now + this.deps.options.tokenTtlMs);
  }

  // --- which generation: the root rotation's per-proxy decisions ------------------------------

  private ackOf(workloadId: string, states: ReadonlyMap<string, AckState>): ProxyAckState {
    return { id: workloadId, ...states.get(workloadId) };
  }

  /** The CA that signs this proxy's next leaf. */
  private issuingCa(workloadId: string, states: ReadonlyMap<string, AckState>): CertificateAuthority {
    const active = this.rotation?.active;
    const next = this.rotation?.nextCa;
    if (!active || !next) return this.ca;
    return issuerFor(active, this.ackOf(workloadId, states)) === 'next' ? next : this.ca;
  }

  /** The roots this proxy should trust now (PEM), and their fingerprints. */
  private trustOf(workloadId: string, states: ReadonlyMap<string, AckState>): { pem: string; fingerprints: readonly string[] } {
    const active = this.rotation?.active;
    if (!active) {
      // Outside a rotation every proxy trusts the one root; fingerprint it once per root, not per push.
      const pem = this.ca.trustBundlePem();
      if (this.rootTrust?.pem !== pem) this.rootTrust = { pem, fingerprints: [fingerprintOfPem(pem)] };
      return this.rootTrust;
    }
    const fingerprints = trustFor(active, this.ackOf(workloadId, states));
    const pem = fingerprints.map((fp) => (fp === active.old.rootFingerprint ? active.old.rootCertPem : active.next.rootCertPem)).join('');
    return { pem, fingerprints };
  }

  private mustReplaceLeaf(workloadId: string, leafIssuer: string | undefined, states: ReadonlyMap<string, AckState>): boolean {
    if (leafIssuer === undefined) return false;
    return this.issuingCa(workloadId, states).issuerFingerprint !== leafIssuer;
  }

  /**
   * The fleet a root-rotation gate waits for: proxies holding SDS secrets, and agents holding valid
   * leaves. Deregistered and revoked workloads, and agents silent for longer than
   * `--rotation-grace`, are left out: they get the trust of the moment if they ever return.
   */
  fleet(): FleetView {
    const now = this.now();
    const counts = (id: string): boolean => this.deps.workload(id) !== undefined && !this.revocations.isRevoked(id);
    const proxies: ProxyAckState[] = [];
    for (const id of this.sdsWorkloads()) if (counts(id)) proxies.push(this.ackOf(id, this.proxies));
    for (const [id, agent] of this.agents) {
      if (agent.leafNotAfter === undefined || agent.leafNotAfter <= now || !counts(id)) continue;
      if (agent.lastSeenAt !== undefined && now - agent.lastSeenAt > this.deps.options.rotationGraceMs) continue;
      const settled = agent.trustFetchedAt !== undefined && now - agent.trustFetchedAt >= AGENT_TRUST_SETTLE_MS;
      proxies.push({ id: `agent:${id}`, trust: settled ? agent.trust : undefined, leafIssuer: agent.leafIssuer, leafNotAfter: agent.leafNotAfter });
    }
    return { proxies };
  }

  // --- secrets --------------------------------------------------------------------------------

  spiffeIdOf(workload: Workload): string {
    return makeSpiffeId(this.ca.trustDomain, workload.namespace, workload.serviceAccount);
  }

  async issueSecret(workload: Workload, now: number, trigger: IssueTrigger): Promise<IssuedSecret> {
    if (this.revocations.isRevoked(workload.id)) {
      throw new IssuanceError('REVOKED', 'workload', `"${workload.id}" is revoked; no new certificates are issued to it`);
    }
    if (trigger === 'request') this.limiter.take(workload.id, this.rotationIntervalMs());
    const ca = this.issuingCa(workload.id, this.proxies);
    const leaf = ca.issue({ spiffeId: this.spiffeIdOf(workload), now, ttlMs: this.deps.mesh().certificates.ttlMs });
    this.revocations.recordIssued(workload.id, leaf.serial, leaf.notAfter);
    const resource = this.requireEncoder().encode(TypeUrl.Secret, DEFAULT_SECRET, asMessage(tlsCertificateSecret(DEFAULT_SECRET, leaf.certChainPem, leaf.keyPem)));
    const previous = this.currentLeaf.get(workload.id);
    if (previous && previous.version !== resource.version) this.leafVersions.delete(previous.version);
    this.leafVersions.set(resource.version, { issuer: leaf.issuerFingerprint, notAfter: leaf.notAfter, workloadId: workload.id });
    this.currentLeaf.set(workload.id, { serial: leaf.serial, issuer: leaf.issuerFingerprint, version: resource.version, notAfter: leaf.notAfter });
    return { resource, serial: leaf.serial, notAfter: leaf.notAfter, rotateAt: this.rotateAt(now, leaf.notAfter) };
  }

  trustSecret(workloadId: string): EncodedResource {
    const { pem, fingerprints } = this.trustOf(workloadId, this.proxies);
    // Keyed by the roots only: the cache is cleared whenever the CRL or the rotation phase changes.
    const key = fingerprints.join(',');
    let resource = this.trustSecrets.get(key);
    if (!resource) {
      const crlPem = this.revocations.crlPem;
      resource = this.requireEncoder().encode(TypeUrl.Secret, ROOTCA_SECRET, asMessage(validationContextSecret(ROOTCA_SECRET, pem, crlPem)));
      this.trustSecrets.set(key, resource);
      this.trustVersions.set(resource.version, fingerprints);
    }
    return resource;
  }

  onTrustChange(listener: TrustListener): () => void {
    this.trustListeners.add(listener);
    return () => this.trustListeners.delete(listener);
  }

  recordAck(workloadId: string, secretName: string, version: string): void {
    const state = this.proxies.get(workloadId) ?? {};
    if (secretName === ROOTCA_SECRET) {
      const fingerprints = this.trustVersions.get(version);
      if (!fingerprints) return;
      const before = this.issuingCa(workloadId, this.proxies).issuerFingerprint;
      state.trust = fingerprints;
      this.proxies.set(workloadId, state);
      // Trust first, then the leaf: an ACK of the combined bundle is what lets P2 re-issue this proxy.
      if (this.issuingCa(workloadId, this.proxies).issuerFingerprint !== before) this.fireTrustChange(workloadId);
    } else if (secretName === DEFAULT_SECRET) {
      const leaf = this.leafVersions.get(version);
      if (!leaf) return;
      state.leafIssuer = leaf.issuer;
      state.leafNotAfter = leaf.notAfter;
      this.proxies.set(workloadId, state);
      // Leaf first, then trust, when removing: the proxy's bundle may shrink now.
      if (this.rotation?.active?.phase === 'P3_REMOVE_TRUST') this.fireTrustChange(workloadId);
    }
  }

  /**
   * The newest certificate this replica issued to the workload (over SDS, or to its agent), if it
   * is still valid.
   */
  leafOf(workloadId: string): { serial: string; notAfter: number } | undefined {
    const now = this.now();
    const sds = this.currentLeaf.get(workloadId);
    const agent = this.agents.get(workloadId);
    const candidates = [
      ...(sds ? [{ serial: sds.serial, notAfter: sds.notAfter }] : []),
      ...(agent?.leafSerial !== undefined && agent.leafNotAfter !== undefined ? [{ serial: agent.leafSerial, notAfter: agent.leafNotAfter }] : []),
    ].filter((leaf) => leaf.notAfter > now);
    return candidates.sort((a, b) => b.notAfter - a.notAfter)[0];
  }

  /** notAfter of every valid workload leaf this replica issued (SDS and agents), for metrics. */
  leafExpiries(): number[] {
    const now = this.now();
    const expiries: number[] = [];
    for (const id of new Set([...this.currentLeaf.keys(), ...this.agents.keys()])) {
      const leaf = this.leafOf(id);
      if (leaf && leaf.notAfter > now) expiries.push(leaf.notAfter);
    }
    return expiries;
  }

  /** A proxy left: it no longer holds the rotation back. */
  forgetProxy(workloadId: string): void {
    this.proxies.delete(workloadId);
  }

  mustReissue(workloadId: string, _serial: string): boolean {
    return this.mustReplaceLeaf(workloadId, this.currentLeaf.get(workloadId)?.issuer, this.proxies);
  }

  private fireTrustChange(workloadId?: string): void {
    for (const listener of this.trustListeners) listener(workloadId);
  }

  // --- CA operations (HTTP) -------------------------------------------------------------------

  bundlePem(): string {
    const active = this.rotation?.active;
    if (!active) return this.ca.trustBundlePem();
    // Unauthenticated readers (bootstraps, the xDS server's peers) get the widest set of the phase.
    return phaseTrustPem(active);
  }

  status(): unknown {
    const status = this.ca.status(this.now());
    return {
      ...status,
      certs: status.certs.map((cert) => ({ ...cert, notBefore: new Date(cert.notBefore).toISOString(), notAfter: new Date(cert.notAfter).toISOString() })),
      revokedWorkloads: this.revocations.revokedWorkloads(),
      rootRotation: this.rotation?.status() ?? { phase: 'unavailable', reason: 'operator-supplied CA files are rotated by the operator' },
    };
  }

  async abortRotation(): Promise<unknown> {
    if (!this.rotation) throw new ApiError('CONFLICT', 'no root rotation can run with operator-supplied CA files');
    try {
      await this.rotation.abort();
    } catch (error) {
      if (error instanceof RotationPhaseError) throw new ApiError('CONFLICT', error.message);
      throw error;
    }
    return this.rotation.status();
  }

  async fence(workload: string): Promise<unknown> {
    if (!this.rotation) throw new ApiError('CONFLICT', 'no root rotation can run with operator-supplied CA files');
    try {
      await this.rotation.fence([workload, `agent:${workload}`]);
    } catch (error) {
      if (error instanceof RotationPhaseError) throw new ApiError('CONFLICT', error.message);
      throw error;
    }
    return this.rotation.status();
  }

  statusSummary(): { severity: string; trustDomain: string; rootRotation: string } {
    const status = this.ca.status(this.now());
    return { severity: status.severity, trustDomain: status.trustDomain, rootRotation: this.rotation?.status().phase ?? 'unavailable' };
  }

  async rotate(): Promise<unknown> {
    if (!this.rotation) {
      throw new ApiError('CONFLICT', 'root rotation needs CA material Accord generated (data dir or shared); operator-supplied CA files are rotated by replacing them');
    }
    await this.rotation.begin(this.ca.trustDomain);
    return this.rotation.status();
  }

  /**
   * A new workload-token signing key. The old one keeps verifying the tokens it signed for one
   * maximum token lifetime (`--token-ttl`), or until `retireTokenKey`.
   */
  async rotateTokenKey(): Promise<unknown> {
    const generations = this.tokenKeyStore();
    const stored = (await generations.loadCurrent()) ?? this.ca.currentMaterial;
    const now = this.now();
    const previous = stored.previousTokenKey;
    if (previous && previous.until > now) {
      throw new ApiError(
        'CONFLICT',
        `the previous token key still verifies tokens until ${new Date(previous.until).toISOString()}; retire it first (accord ca retire-token-key), which ends the tokens it signed`,
      );
    }
    const next: CaMaterial = { ...stored, tokenKey: randomBytes(32).toString('base64'), previousTokenKey: { key: stored.tokenKey, until: now + this.deps.options.tokenTtlMs } };
    if (!(await generations.replaceCurrent(next, stored))) throw new ApiError('CONFLICT', 'another replica changed the CA material at the same moment; try again');
    this.adoptTokenKeys(next);
    this.log.warn({ signingKeyId: this.tokens.signingKeyId }, 'workload-token signing key rotated');
    return this.tokenKeyStatus();
  }

  /** Ends the previous token key at once: tokens it signed stop authenticating. */
  async retireTokenKey(): Promise<unknown> {
    const generations = this.tokenKeyStore();
    const stored = (await generations.loadCurrent()) ?? this.ca.currentMaterial;
    if (stored.previousTokenKey) {
      const next: CaMaterial = { ...stored, previousTokenKey: undefined };
      if (!(await generations.replaceCurrent(next, stored))) throw new ApiError('CONFLICT', 'another replica changed the CA material at the same moment; try again');
      this.adoptTokenKeys(next);
      this.log.warn({ signingKeyId: this.tokens.signingKeyId }, 'previous workload-token key retired; tokens it signed no longer authenticate');
    }
    return this.tokenKeyStatus();
  }

  private tokenKeyStore(): CaGenerationStore {
    if (!this.generations) {
      throw new ApiError('CONFLICT', 'with operator-supplied CA files the token key is derived from the CA key; it changes with the CA files');
    }
    return this.generations;
  }

  private tokenKeyStatus(): { signingKeyId: string | undefined; previousKeyId?: string; previousValidUntil?: string } {
    const previous = this.ca.currentMaterial.previousTokenKey;
    if (!previous || previous.until <= this.now()) return { signingKeyId: this.tokens.signingKeyId };
    return { signingKeyId: this.tokens.signingKeyId, previousKeyId: tokenKeyId(previous.key), previousValidUntil: new Date(previous.until).toISOString() };
  }

  /** The current CA material sealed with the KEK (`accord ca backup`). */
  backup(): CaBackup {
    if (!this.kek) throw new ApiError('CONFLICT', 'a CA backup is sealed with the KEK: set ACCORD_CA_KEK (or ACCORD_CA_KEK_FILE) on this replica');
    this.log.warn('CA backup taken (sealed with the KEK)');
    return createCaBackup(this.ca.currentMaterial, this.kek, this.ca.trustDomain, this.now());
  }

  /**
   * Puts a backup's material back into a store that lost it (`accord ca restore`). Only the root
   * this replica serves can be restored: replacing a live root is a root rotation, not a restore.
   */
  async restore(backup: unknown): Promise<unknown> {
    const kek = this.kek;
    if (!kek) throw new ApiError('CONFLICT', 'a CA backup is opened with the KEK: set ACCORD_CA_KEK (or ACCORD_CA_KEK_FILE) on this replica');
    let material: CaMaterial;
    try {
      material = openCaBackup(backup, kek, 'backup').material;
    } catch (error) {
      throw new ApiError('INVALID_ARGUMENT', (error as Error).message, [{ field: 'backup', message: (error as Error).message }]);
    }
    const rootFingerprint = fingerprintOfPem(material.root.certPem);
    if (material.root.certPem !== this.ca.currentMaterial.root.certPem) {
      throw new ApiError(
        'CONFLICT',
        `this replica serves root ${fingerprintOfPem(this.ca.currentMaterial.root.certPem)}, the backup holds ${rootFingerprint}: start replicas with --ca-backup on a store without CA material to restore another root`,
      );
    }
    // Put-if-absent: a store that holds material (this root's, checked above) is left as it is.
    const restored =
      this.sharedSource && (await this.kv.kvPutIfVersion(DEFAULT_SHARED_CA_KEY, JSON.stringify(sealCa(kek, serializeCaMaterial(material), DEFAULT_SHARED_CA_KEY)), undefined));
    if (restored) this.log.warn({ rootFingerprint }, 'CA material restored into the store from a backup');
    return { restored, rootFingerprint };
  }

  async revoke(target: { serial?: string; workload?: string }): Promise<unknown> {
    let revoked: string[] = [];
    if (target.serial !== undefined) {
      revoked = await this.revocations.revokeSerial(target.serial);
    } else if (target.workload !== undefined) {
      if (!this.deps.workload(target.workload) && !this.revocations.hasIssuedTo(target.workload)) {
        throw new ApiError('NOT_FOUND', `workload "${target.workload}" is not registered`);
      }
      revoked = await this.revocations.revokeWorkload(target.workload);
    }
    return { revoked, crlPublished: true };
  }

  async signCsr(workloadToken: string, csrPem: string): Promise<unknown> {
    const now = this.now();
    const claims = await this.agentClaims(workloadToken, now);
    const workload = this.deps.workload(claims.workloadId);
    if (!workload) throw new ApiError('NOT_FOUND', `workload "${claims.workloadId}" is not registered (any more); no certificate is issued to it`);
    const spiffeId = this.spiffeIdOf(workload);
    const ca = this.issuingCa(claims.workloadId, this.agents);
    const issued = await ca.signCsr({
      csrPem,
      spiffeId,
      now,
      ttlMs: this.deps.mesh().certificates.ttlMs,
      admit: () => this.limiter.take(claims.workloadId, this.rotationIntervalMs()),
    });
    this.revocations.recordIssued(claims.workloadId, issued.serial, issued.notAfter);
    const trust = this.trustOf(claims.workloadId, this.agents);
    const agent = this.agents.get(claims.workloadId) ?? {};
    issuedCertificates(this.deps.metrics).inc({ result: agent.leafSerial === undefined ? 'issued' : 'rotated' });
    this.agents.set(claims.workloadId, {
      ...agent,
      leafSerial: issued.serial,
      leafIssuer: issued.issuerFingerprint,
      leafNotAfter: issued.notAfter,
      trust: trust.fingerprints,
      trustFetchedAt: now,
      lastSeenAt: now,
    });
    return {
      certChainPem: issued.certChainPem,
      caBundlePem: trust.pem,
      serial: issued.serial,
      spiffeId,
      notAfter: new Date(issued.notAfter).toISOString(),
      rotateAt: new Date(this.rotateAt(now, issued.notAfter)).toISOString(),
      workload,
    };
  }

  /** An agent's trust bundle; `reissue` asks it for a new CSR now (a root rotation switched its issuer). */
  async agentBundle(workloadToken: string): Promise<{ caBundlePem: string; reissue: boolean }> {
    const now = this.now();
    const claims = await this.agentClaims(workloadToken, now);
    if (!this.deps.workload(claims.workloadId)) throw new ApiError('NOT_FOUND', `workload "${claims.workloadId}" is not registered (any more)`);
    const trust = this.trustOf(claims.workloadId, this.agents);
    const agent = this.agents.get(claims.workloadId) ?? {};
    const unchanged = agent.trust !== undefined && agent.trust.join() === trust.fingerprints.join();
    this.agents.set(claims.workloadId, { ...agent, trust: trust.fingerprints, trustFetchedAt: unchanged ? agent.trustFetchedAt : now, lastSeenAt: now });
    const settled = unchanged && agent.trustFetchedAt !== undefined && now - agent.trustFetchedAt >= AGENT_TRUST_SETTLE_MS;
    return { caBundlePem: trust.pem, reissue: settled && this.mustReplaceLeaf(claims.workloadId, agent.leafIssuer, this.agents) };
  }

  /** The workload a token names, registered or not (ApiError 401/403 for a bad, denied or revoked one). */
  async workloadClaims(token: string): Promise<VerifiedWorkload> {
    return this.agentClaims(token, this.now());
  }

  private async agentClaims(token: string, now: number): Promise<VerifiedWorkload> {
    try {
      return await this.verifyToken(token, now);
    } catch (error) {
      if (error instanceof IssuanceError) throw new ApiError('PERMISSION_DENIED', error.message);
      throw new ApiError('UNAUTHENTICATED', `workload token rejected: ${(error as Error).message}`);
    }
  }

  /** How often a workload legitimately needs a new leaf: the issuance limiter never refills slower than twice that. */
  private rotationIntervalMs(): number {
    const { ttlMs, rotateAt } = this.deps.mesh().certificates;
    return ttlMs * rotateAt;
  }

  // --- the control plane's own server identity (xDS port, and HTTPS with --http-tls) ----------

  xdsServerSpiffeId(): string {
    return makeSpiffeId(this.ca.trustDomain, XDS_SERVER_NAMESPACE, XDS_SERVER_ACCOUNT);
  }

  /**
   * TLS for the xDS port with a certificate from the mesh CA. It follows the CA: the certificate is
   * rotated before it expires and re-issued when a root rotation switches issuers, and the bundle
   * it presents is the phase's (old+new during a rotation).
   */
  xdsServerCredentials(): grpc.ServerCredentials {
    const provider = new XdsServerIdentity();
    this.onServerCertificate((material) => provider.update(material));
    return provider.credentials();
  }

  /**
   * Calls `listener` now and whenever the control plane's server certificate changes (rotation,
   * root rotation). The certificate names the control plane's SPIFFE ID and, for clients that check
   * host names (HTTPS), `localhost`, the loopback addresses, the bound host and `--tls-san` names.
   */
  onServerCertificate(listener: ServerCertificateListener): () => void {
    this.serverCertificateListeners.add(listener);
    if (!this.serverCertificate) this.refreshServerCertificate();
    else listener(this.serverCertificate);
    return () => this.serverCertificateListeners.delete(listener);
  }

  private refreshServerCertificate(): void {
    if (this.serverCertificateListeners.size === 0) return;
    const now = this.now();
    // Clients trust the control plane through a CA file refreshed from `accord ca bundle` (old+new
    // from P1): switch its certificate to the new root only in P3.
    const next = this.rotation?.nextCa;
    const ca = next && this.rotation?.active?.phase === 'P3_REMOVE_TRUST' ? next : this.ca;
    const { dnsNames, ipAddresses } = serverNames(this.deps.options);
    const leaf = ca.issue({ spiffeId: this.xdsServerSpiffeId(), dnsNames, ipAddresses, now, ttlMs: Math.max(this.deps.mesh().certificates.ttlMs, 3_600_000) });
    this.serverCertificate = { caBundlePem: this.bundlePem(), certChainPem: leaf.certChainPem, keyPem: leaf.keyPem };
    for (const listener of this.serverCertificateListeners) listener(this.serverCertificate);
    this.log.info({ serial: leaf.serial, notAfter: new Date(leaf.notAfter).toISOString(), dnsNames, ipAddresses }, 'control-plane server certificate issued');
    this.clock.clearTimeout(this.serverCertificateTimer);
    this.serverCertificateTimer = this.clock.setTimeout(() => this.refreshServerCertificate(), Math.max(1000, this.rotateAt(now, leaf.notAfter) - now));
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.intermediateTimer);
    this.clock.clearTimeout(this.tokenKeyTimer);
    this.rotation?.stop();
    this.clock.clearTimeout(this.serverCertificateTimer);
    this.revocations.stop();
    this.denied.stop();
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
    if (!this.encoder) throw new Error('identity: attach() must run before secrets are built');
    return this.encoder;
  }
}
