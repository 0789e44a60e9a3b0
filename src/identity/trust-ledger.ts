import { issuerFor, trustFor, fingerprintOfPem, type CertificateAuthority, type FleetView, type ProxyAckState } from '../ca/index.js';
import type { Workload } from '../core/workload.js';
import type { CaRuntime } from './ca-runtime.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from './secret-names.js';

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

/** Since when the agent has held `trust`: unchanged, since it first got it; otherwise from now. */
function trustSince(agent: AgentState, trust: readonly string[], now: number): number {
  return agent.trustFetchedAt !== undefined && agent.trust?.join() === trust.join() ? agent.trustFetchedAt : now;
}

/** Over SDS (Envoy, proxyless gRPC) or through an agent writing files. */
export type Holder = 'sds' | 'agent';

export interface TrustLedgerDeps {
  readonly runtime: CaRuntime;
  readonly workload: (id: string) => Workload | undefined;
  readonly isRevoked: (workloadId: string) => boolean;
  /** Workloads whose proxies hold an SDS certificate from this replica. */
  readonly sdsHolders: () => Iterable<string>;
  /** Agents silent for longer than this no longer hold a rotation gate. */
  readonly rotationGraceMs: number;
  readonly now: () => number;
  /** What one workload (or, no id, every workload) trusts or is issued changed. */
  readonly onTrustChange: (workloadId?: string) => void;
}

/**
 * Which proxy holds which trust bundle and leaf: what each SDS proxy ACKed and each agent fetched.
 * The root-rotation gates read it (`fleet`), and it decides, per proxy, which CA signs its next
 * leaf and which roots it should trust now.
 */
export class TrustLedger {
  /** Secret versions → what they carry, to turn ACKed versions into trust and issuer facts. */
  private readonly trustVersions = new Map<string, readonly string[]>();
  private readonly leafVersions = new Map<string, { issuer: string; notAfter: number; workloadId: string }>();
  private readonly proxies = new Map<string, AckState>();
  private readonly agents = new Map<string, AgentState>();
  private readonly currentLeaf = new Map<string, { serial: string; issuer: string; version: string; notAfter: number }>();
  private rootTrust: { pem: string; fingerprints: readonly string[] } | undefined;

  constructor(private readonly deps: TrustLedgerDeps) {}

  private states(holder: Holder): ReadonlyMap<string, AckState> {
    return holder === 'sds' ? this.proxies : this.agents;
  }

  private ackOf(workloadId: string, holder: Holder): ProxyAckState {
    return { id: workloadId, ...this.states(holder).get(workloadId) };
  }

  /** The CA that signs this proxy's next leaf. */
  issuingCa(workloadId: string, holder: Holder): CertificateAuthority {
    const { ca, rotation } = this.deps.runtime;
    const active = rotation?.active;
    const next = rotation?.nextCa;
    if (!active || !next) return ca;
    return issuerFor(active, this.ackOf(workloadId, holder)) === 'next' ? next : ca;
  }

  /** The roots this proxy should trust now (PEM), and their fingerprints. */
  trustOf(workloadId: string, holder: Holder): { pem: string; fingerprints: readonly string[] } {
    const active = this.deps.runtime.rotation?.active;
    if (!active) {
      // Outside a rotation every proxy trusts the one root; fingerprint it once per root, not per push.
      const pem = this.deps.runtime.ca.trustBundlePem();
      if (this.rootTrust?.pem !== pem) this.rootTrust = { pem, fingerprints: [fingerprintOfPem(pem)] };
      return this.rootTrust;
    }
    const fingerprints = trustFor(active, this.ackOf(workloadId, holder));
    const pem = fingerprints.map((fp) => (fp === active.old.rootFingerprint ? active.old.rootCertPem : active.next.rootCertPem)).join('');
    return { pem, fingerprints };
  }

  private mustReplaceLeaf(workloadId: string, leafIssuer: string | undefined, holder: Holder): boolean {
    if (leafIssuer === undefined) return false;
    return this.issuingCa(workloadId, holder).issuerFingerprint !== leafIssuer;
  }

  /** Whether the workload's SDS leaf must be replaced now (an issuer switch in a root rotation). */
  mustReissue(workloadId: string): boolean {
    return this.mustReplaceLeaf(workloadId, this.currentLeaf.get(workloadId)?.issuer, 'sds');
  }

  /**
   * The fleet a root-rotation gate waits for: proxies holding SDS secrets, and agents holding valid
   * leaves. Deregistered and revoked workloads, and agents silent for longer than
   * `--rotation-grace`, are left out: they get the trust of the moment if they ever return.
   */
  fleet(): FleetView {
    const now = this.deps.now();
    const counts = (id: string): boolean => this.deps.workload(id) !== undefined && !this.deps.isRevoked(id);
    const proxies: ProxyAckState[] = [];
    for (const id of this.deps.sdsHolders()) if (counts(id)) proxies.push(this.ackOf(id, 'sds'));
    for (const [id, agent] of this.agents) {
      if (agent.leafNotAfter === undefined || agent.leafNotAfter <= now || !counts(id)) continue;
      if (agent.lastSeenAt !== undefined && now - agent.lastSeenAt > this.deps.rotationGraceMs) continue;
      const settled = agent.trustFetchedAt !== undefined && now - agent.trustFetchedAt >= AGENT_TRUST_SETTLE_MS;
      proxies.push({ id: `agent:${id}`, trust: settled ? agent.trust : undefined, leafIssuer: agent.leafIssuer, leafNotAfter: agent.leafNotAfter });
    }
    return { proxies };
  }

  // --- SDS proxies ------------------------------------------------------------------------------

  /** A `ROOTCA` secret version was built carrying these roots. */
  recordTrustVersion(version: string, fingerprints: readonly string[]): void {
    this.trustVersions.set(version, fingerprints);
  }

  /** A `default` secret version was built for the workload. */
  recordSdsLeaf(workloadId: string, version: string, leaf: { serial: string; issuer: string; notAfter: number }): void {
    const previous = this.currentLeaf.get(workloadId);
    if (previous && previous.version !== version) this.leafVersions.delete(previous.version);
    this.leafVersions.set(version, { issuer: leaf.issuer, notAfter: leaf.notAfter, workloadId });
    this.currentLeaf.set(workloadId, { serial: leaf.serial, issuer: leaf.issuer, version, notAfter: leaf.notAfter });
  }

  recordAck(workloadId: string, secretName: string, version: string): void {
    const state = this.proxies.get(workloadId) ?? {};
    if (secretName === ROOTCA_SECRET) {
      const fingerprints = this.trustVersions.get(version);
      if (!fingerprints) return;
      const before = this.issuingCa(workloadId, 'sds').issuerFingerprint;
      state.trust = fingerprints;
      this.proxies.set(workloadId, state);
      // Trust first, then the leaf: an ACK of the combined bundle is what lets P2 re-issue this proxy.
      if (this.issuingCa(workloadId, 'sds').issuerFingerprint !== before) this.deps.onTrustChange(workloadId);
    } else if (secretName === DEFAULT_SECRET) {
      const leaf = this.leafVersions.get(version);
      if (!leaf) return;
      state.leafIssuer = leaf.issuer;
      state.leafNotAfter = leaf.notAfter;
      this.proxies.set(workloadId, state);
      // Leaf first, then trust, when removing: the proxy's bundle may shrink now.
      if (this.deps.runtime.rotation?.active?.phase === 'P3_REMOVE_TRUST') this.deps.onTrustChange(workloadId);
    }
  }

  /** A proxy left: it no longer holds the rotation back. */
  forgetProxy(workloadId: string): void {
    this.proxies.delete(workloadId);
  }

  // --- agents -----------------------------------------------------------------------------------

  /**
   * An agent was issued a leaf, with the trust bundle it got alongside. A renewal that hands back the
   * bundle the agent already holds does not restart the settle time: that bundle is already in effect,
   * and restarting it on every renewal kept a fleet of short-lived leaves from ever being settled at once.
   */
  recordAgentLeaf(workloadId: string, leaf: { serial: string; issuer: string; notAfter: number }, trust: readonly string[], now: number): 'issued' | 'rotated' {
    const agent = this.agents.get(workloadId) ?? {};
    this.agents.set(workloadId, { ...agent, leafSerial: leaf.serial, leafIssuer: leaf.issuer, leafNotAfter: leaf.notAfter, trust, trustFetchedAt: trustSince(agent, trust, now), lastSeenAt: now });
    return agent.leafSerial === undefined ? 'issued' : 'rotated';
  }

  /** An agent fetched its trust bundle; true when it should re-issue its leaf now (its issuer switched). */
  recordAgentBundle(workloadId: string, trust: readonly string[], now: number): boolean {
    const agent = this.agents.get(workloadId) ?? {};
    const trustFetchedAt = trustSince(agent, trust, now);
    this.agents.set(workloadId, { ...agent, trust, trustFetchedAt, lastSeenAt: now });
    const settled = now - trustFetchedAt >= AGENT_TRUST_SETTLE_MS;
    return settled && this.mustReplaceLeaf(workloadId, agent.leafIssuer, 'agent');
  }

  // --- leaves -----------------------------------------------------------------------------------

  /** The newest certificate this replica issued to the workload (over SDS, or to its agent), if still valid. */
  leafOf(workloadId: string): { serial: string; notAfter: number } | undefined {
    const now = this.deps.now();
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
    const now = this.deps.now();
    const expiries: number[] = [];
    for (const id of new Set([...this.currentLeaf.keys(), ...this.agents.keys()])) {
      const leaf = this.leafOf(id);
      if (leaf && leaf.notAfter > now) expiries.push(leaf.notAfter);
    }
    return expiries;
  }
}
