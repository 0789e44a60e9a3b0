import { realClock, repeatAsync, type Clock, type TimerHandle } from '../core/clock.js';
import { SharedRevocations, type CaKv, type CertificateAuthority } from '../ca/index.js';
import type { Logger } from '../observability/logger.js';

/** Workloads revoked by an operator, shared by every replica (JSON array of workload ids). */
const REVOKED_WORKLOADS_KEY = 'accord/ca/revoked-workloads';
const SYNC_MS = 1_000;
/** Serials of expired leaves are forgotten about this often. */
const PRUNE_EVERY_SYNCS = 60;

export interface WorkloadRevocationsDeps {
  /** Time and timers; the real clock by default. */
  readonly clock?: Clock;
  readonly kv: CaKv;
  /** The CA that signs now; its revocation list is the one every CA generation shares. */
  readonly ca: CertificateAuthority;
  /**
   * Other issuers whose leaves may still be in use — the next generation during a root rotation,
   * the previous intermediate after a renewal. Their CRLs travel too: with a CRL configured, a
   * verifier refuses a leaf whose issuer has none.
   */
  readonly otherIssuers: () => readonly CertificateAuthority[];
  readonly logger: Logger;
  readonly now: () => number;
  /** The published CRL changed: every proxy's `ROOTCA` must be re-sent. */
  readonly onCrlChange: () => void;
  /** The set of revoked workloads changed. */
  readonly onRevokedWorkloadsChange: () => void;
}

/**
 * Revocation across replicas: which workloads are revoked, which serials this replica issued to
 * each, the shared list of revoked serials, and the signed CRL (both generations' during a root
 * rotation), re-signed before `nextUpdate` and whenever a revocation changes it.
 */
export class WorkloadRevocations {
  private readonly revoked = new Set<string>();
  /** Workload id → serial → notAfter, for leaves this replica issued that are still valid. */
  private readonly issuedTo = new Map<string, Map<string, number>>();
  private syncs = 0;
  private readonly shared: SharedRevocations;
  private crl: string | undefined;
  private crlRevision = -1;
  private crlTimer: TimerHandle | undefined;
  private stopSync: () => void = () => undefined;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly deps: WorkloadRevocationsDeps) {
    this.shared = new SharedRevocations(deps.kv);
    this.log = deps.logger.child({ component: 'revocations' });
    this.clock = deps.clock ?? realClock;
  }

  /** The CRL PEM(s) to publish, once signed. */
  get crlPem(): string | undefined {
    return this.crl;
  }

  isRevoked(workloadId: string): boolean {
    return this.revoked.has(workloadId);
  }

  revokedWorkloads(): string[] {
    return [...this.revoked];
  }

  /** Whether this replica ever issued to the workload. */
  hasIssuedTo(workloadId: string): boolean {
    return this.issuedTo.has(workloadId);
  }

  recordIssued(workloadId: string, serial: string, notAfter: number): void {
    let serials = this.issuedTo.get(workloadId);
    if (!serials) this.issuedTo.set(workloadId, (serials = new Map()));
    const now = this.deps.now();
    for (const [known, expiry] of serials) if (expiry <= now) serials.delete(known);
    serials.set(serial, notAfter);
  }

  /** Serials (this replica issued) of leaves that are still valid. */
  liveSerials(): number {
    let count = 0;
    for (const serials of this.issuedTo.values()) count += serials.size;
    return count;
  }

  /** Forgets leaves that have expired: they need no revocation, and must not make the ledger grow. */
  prune(now: number): void {
    for (const [workloadId, serials] of this.issuedTo) {
      for (const [serial, notAfter] of serials) if (notAfter <= now) serials.delete(serial);
      if (serials.size === 0) this.issuedTo.delete(workloadId);
    }
    this.deps.ca.revocations.prune(now);
  }

  /** Reads what is stored (revoked workloads and serials) once, before anything is served (no listener is told). */
  async load(): Promise<void> {
    await this.sync(false);
  }

  start(): void {
    void this.refreshCrl();
    this.stopSync = repeatAsync(this.clock, SYNC_MS, () => this.sync(), (error) => this.log.warn({ err: error }, 'revocation sync failed; will retry'));
  }

  stop(): void {
    this.stopSync();
    this.clock.clearTimeout(this.crlTimer);
  }

  async revokeSerial(serial: string): Promise<string[]> {
    const revoked = [this.deps.ca.revokeSerial(serial, this.deps.now()).serial];
    await this.publish();
    return revoked;
  }

  /** Refuses the workload new certificates everywhere and revokes every live one it holds. */
  async revokeWorkload(workloadId: string): Promise<string[]> {
    await this.shareRevokedWorkload(workloadId);
    const now = this.deps.now();
    this.revokeLocally(workloadId, now);
    this.deps.onRevokedWorkloadsChange();
    await this.publish();
    // A periodic sync may have learnt of the revocation from the store while it was being shared
    // and revoked the serials first: the answer lists every live serial now revoked, whoever did it.
    return [...(this.issuedTo.get(workloadId) ?? [])]
      .filter(([serial, notAfter]) => notAfter > now && this.deps.ca.isRevoked(serial))
      .map(([serial]) => serial);
  }

  /** Re-signs the CRL and tells the proxies when it changed. */
  async refreshCrl(): Promise<void> {
    const now = this.deps.now();
    this.crlRevision = this.deps.ca.revocations.revision;
    const crls = [await this.deps.ca.crlPem(now)];
    for (const issuer of this.deps.otherIssuers()) crls.push(await issuer.crlPem(now));
    const pem = crls.map((crl) => crl.pem).join('');
    const changed = pem !== this.crl;
    this.crl = pem;
    this.clock.clearTimeout(this.crlTimer);
    const nextUpdate = Math.min(...crls.map((crl) => crl.nextUpdate));
    this.crlTimer = this.clock.setTimeout(() => void this.refreshCrl(), Math.max(60_000, Math.floor((nextUpdate - now) / 2)));
    if (changed) this.deps.onCrlChange();
  }

  private async publish(): Promise<void> {
    await this.shared.sync(this.deps.ca.revocations, this.deps.now());
    await this.refreshCrl();
  }

  /** Learns what other replicas revoked: workloads (and the serials this replica issued them) and serials. */
  private async sync(notify = true): Promise<void> {
    const now = this.deps.now();
    if (++this.syncs % PRUNE_EVERY_SYNCS === 0) this.prune(now);
    const known = this.revoked.size;
    for (const workloadId of await this.sharedRevokedWorkloads()) this.revokeLocally(workloadId, now);
    if (notify && this.revoked.size !== known) this.deps.onRevokedWorkloadsChange();
    await this.shared.sync(this.deps.ca.revocations, now);
    if (this.deps.ca.revocations.revision !== this.crlRevision) await this.refreshCrl();
  }

  private revokeLocally(workloadId: string, now: number): void {
    this.revoked.add(workloadId);
    for (const [serial, notAfter] of this.issuedTo.get(workloadId) ?? []) {
      if (notAfter > now && !this.deps.ca.isRevoked(serial)) this.deps.ca.revokeSerial(serial, now);
    }
  }

  private async sharedRevokedWorkloads(): Promise<string[]> {
    const stored = await this.deps.kv.kvGet(REVOKED_WORKLOADS_KEY);
    return stored ? (JSON.parse(stored.value) as string[]) : [];
  }

  private async shareRevokedWorkload(workloadId: string): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const stored = await this.deps.kv.kvGet(REVOKED_WORKLOADS_KEY);
      const ids = new Set<string>(stored ? (JSON.parse(stored.value) as string[]) : []);
      if (ids.has(workloadId)) return;
      ids.add(workloadId);
      if (await this.deps.kv.kvPutIfVersion(REVOKED_WORKLOADS_KEY, JSON.stringify([...ids]), stored?.version)) return;
    }
    throw new Error('could not record the revocation: the shared list kept changing');
  }
}
