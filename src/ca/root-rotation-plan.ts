/**
 * Root rotation P0–P4 (docs/decisions/0006-root-rotation.md) as a pure state machine. Every decision is a
 * function of the persisted state, a fleet view and `now`; persistence lives in root-rotation-store.ts.
 *
 * | phase            | trust pushed | leaves from          | gate to the next phase                               |
 * | P0_PREPARE       | R1           | I1                   | none (the trust change R1 -> R1+R2 is a superset)     |
 * | P1_ADD_TRUST     | R1+R2        | I1                   | every proxy ACKed R1+R2                               |
 * | P2_SWITCH_ISSUER | R1+R2        | I2 once it ACKed R1+R2 | every proxy ACKed an I2 leaf; other I1 leaves expired |
 * | P3_REMOVE_TRUST  | R2           | I2                   | every proxy ACKed R2 alone                            |
 * | P4_RETIRED       | R2           | I2                   | — (R1's key may be destroyed)                         |
 */

export type RootRotationPhase = 'P0_PREPARE' | 'P1_ADD_TRUST' | 'P2_SWITCH_ISSUER' | 'P3_REMOVE_TRUST' | 'P4_RETIRED';

export const PHASE_ORDER: readonly RootRotationPhase[] = ['P0_PREPARE', 'P1_ADD_TRUST', 'P2_SWITCH_ISSUER', 'P3_REMOVE_TRUST', 'P4_RETIRED'];

/** One generation of CA: its root and the intermediate that issues leaves (public parts only). */
export interface CaGeneration {
  readonly rootCertPem: string;
  /** SHA-256 hex of the root certificate's DER. */
  readonly rootFingerprint: string;
  /** SHA-256 hex of the issuing certificate's DER (what a leaf's issuer is compared with). */
  readonly issuerFingerprint: string;
}

/** Serialisable; shared by all replicas through the KV so a restart or another replica resumes. */
export interface RootRotationState {
  readonly version: 1;
  readonly phase: RootRotationPhase;
  readonly startedAt: number;
  readonly phaseSince: number;
  readonly old: CaGeneration;
  readonly next: CaGeneration;
  /** Proxy ids (as in FleetView) an operator removed from every gate (`accord ca fence`). */
  readonly fenced?: readonly string[];
  /**
   * `accord ca rotate --abort` from P1 or P2: trust stays old+new and every leaf comes from the old
   * issuer again until no proxy holds a new-issuer leaf; then `aborted`, and trust is the old root alone.
   */
  readonly abort?: { readonly at: number; readonly from: RootRotationPhase };
  /** The abort finished: the old generation stays, nothing of the new one is trusted. Terminal. */
  readonly aborted?: boolean;
}

/** At most this many fenced proxies are kept in the shared state. */
export const MAX_FENCED = 10_000;

/** What one connected proxy last acknowledged. */
export interface ProxyAckState {
  readonly id: string;
  /** Root fingerprints in the validation context it last ACKed; undefined before its first ACK. */
  readonly trust?: readonly string[];
  /** Issuer fingerprint of the leaf it last ACKed. */
  readonly leafIssuer?: string;
  readonly leafNotAfter?: number;
}

/** Leaves held outside xDS (agents' files, the xDS server's own TLS): they block P3 until replaced or expired. */
export interface OutstandingLeaf {
  readonly holder: string;
  readonly issuerFingerprint: string;
  readonly notAfter: number;
}

export interface FleetView {
  readonly proxies: readonly ProxyAckState[];
  readonly otherLeaves?: readonly OutstandingLeaf[];
}

export interface GateResult {
  readonly open: boolean;
  /** Ids of the proxies (or leaf holders) the gate waits for, sorted. */
  readonly waitingFor: readonly string[];
  readonly reason: string;
}

export class TrustChangeError extends Error {
  readonly code = 'TRUST_CHANGE_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'TrustChangeError';
  }
}

export class RotationPhaseError extends Error {
  readonly code = 'ROTATION_STATE_INVALID';
  constructor(
    readonly phase: RootRotationPhase,
    message: string,
  ) {
    super(message);
    this.name = 'RotationPhaseError';
  }
}

/**
 * Every trust change must add to or remove from the current set, never swap: a proxy that
 * receives the new set before its peers must still trust everything its peers present.
 */
export function checkTrustChange(current: readonly string[], proposed: readonly string[]): void {
  const from = new Set(current);
  const to = new Set(proposed);
  const isSuperset = [...from].every((fp) => to.has(fp));
  const isSubset = [...to].every((fp) => from.has(fp));
  if (!isSuperset && !isSubset) {
    throw new TrustChangeError(
      `trust change from [${[...from].join(', ')}] to [${[...to].join(', ')}] neither adds to nor removes from the current set`,
    );
  }
  if (to.size === 0) throw new TrustChangeError('trust change would leave no trusted root');
}

export function beginRootRotation(old: CaGeneration, next: CaGeneration, now: number): RootRotationState {
  if (old.rootFingerprint === next.rootFingerprint) throw new TrustChangeError('next root is the current root');
  return { version: 1, phase: 'P0_PREPARE', startedAt: now, phaseSince: now, old, next };
}

/** The roots the whole fleet (and non-Envoy peers) should trust in this phase. */
export function phaseTrust(state: RootRotationState): readonly string[] {
  if (state.aborted) return [state.old.rootFingerprint];
  if (state.abort) return [state.old.rootFingerprint, state.next.rootFingerprint];
  switch (state.phase) {
    case 'P0_PREPARE':
      return [state.old.rootFingerprint];
    case 'P1_ADD_TRUST':
    case 'P2_SWITCH_ISSUER':
      return [state.old.rootFingerprint, state.next.rootFingerprint];
    case 'P3_REMOVE_TRUST':
    case 'P4_RETIRED':
      return [state.next.rootFingerprint];
  }
}

/** The PEM bundle for `phaseTrust`, old root first. */
export function phaseTrustPem(state: RootRotationState): string {
  return phaseTrust(state)
    .map((fp) => (fp === state.old.rootFingerprint ? state.old.rootCertPem : state.next.rootCertPem))
    .join('');
}

/**
 * The trust bundle to push to one proxy. Removing trust waits for the proxy's own leaf to come
 * from the new issuer (leaf first, then trust, when removing).
 */
export function trustFor(state: RootRotationState, proxy: ProxyAckState): readonly string[] {
  if (state.abort || state.aborted) return phaseTrust(state);
  if (state.phase === 'P3_REMOVE_TRUST' && proxy.leafIssuer !== undefined && proxy.leafIssuer !== state.next.issuerFingerprint) {
    return [state.old.rootFingerprint, state.next.rootFingerprint];
  }
  return phaseTrust(state);
}

export type IssuerChoice = 'old' | 'next';

/**
 * Which CA generation signs this proxy's next leaf. In P2 a proxy gets an I2 leaf only after it
 * ACKed trust that includes R2 (trust first, then the leaf, when adding).
 */
export function issuerFor(state: RootRotationState, proxy: ProxyAckState): IssuerChoice {
  if (state.abort || state.aborted) return 'old';
  switch (state.phase) {
    case 'P0_PREPARE':
    case 'P1_ADD_TRUST':
      return 'old';
    case 'P2_SWITCH_ISSUER':
      return proxy.trust?.includes(state.next.rootFingerprint) ? 'next' : 'old';
    case 'P3_REMOVE_TRUST':
    case 'P4_RETIRED':
      return 'next';
  }
}

function sameSet(a: readonly string[] | undefined, b: readonly string[]): boolean {
  if (!a) return false;
  const left = new Set(a);
  return left.size === new Set(b).size && b.every((x) => left.has(x));
}

function gate(waitingFor: string[], what: string): GateResult {
  const sorted = [...new Set(waitingFor)].sort();
  return {
    open: sorted.length === 0,
    waitingFor: sorted,
    reason: sorted.length === 0 ? `${what}: done` : `${what}: waiting for ${sorted.length} (${sorted.slice(0, 10).join(', ')}${sorted.length > 10 ? ', …' : ''})`,
  };
}

/** Whether the current phase's gate is open for this fleet at `now`, and who it waits for. */
export function phaseGate(state: RootRotationState, unfenced: FleetView, now: number): GateResult {
  const fenced = new Set(state.fenced ?? []);
  const fleet: FleetView = {
    proxies: unfenced.proxies.filter((p) => !fenced.has(p.id)),
    otherLeaves: (unfenced.otherLeaves ?? []).filter((leaf) => !fenced.has(leaf.holder)),
  };
  if (state.aborted) return { open: false, waitingFor: [], reason: 'rotation aborted' };
  if (state.abort) {
    const proxies = fleet.proxies.filter((p) => p.leafIssuer === state.next.issuerFingerprint).map((p) => p.id);
    const others = (fleet.otherLeaves ?? []).filter((leaf) => leaf.issuerFingerprint === state.next.issuerFingerprint && leaf.notAfter > now).map((leaf) => leaf.holder);
    return gate([...proxies, ...others], 'abort: every proxy ACKs a leaf from the old issuer again');
  }
  const both = [state.old.rootFingerprint, state.next.rootFingerprint];
  switch (state.phase) {
    case 'P0_PREPARE':
      return gate([], 'prepare');
    case 'P1_ADD_TRUST':
      return gate(
        fleet.proxies.filter((p) => !sameSet(p.trust, both)).map((p) => p.id),
        'every proxy ACKs the combined bundle',
      );
    case 'P2_SWITCH_ISSUER': {
      const proxies = fleet.proxies.filter((p) => p.leafIssuer !== state.next.issuerFingerprint).map((p) => p.id);
      const others = (fleet.otherLeaves ?? [])
        .filter((leaf) => leaf.issuerFingerprint !== state.next.issuerFingerprint && leaf.notAfter > now)
        .map((leaf) => leaf.holder);
      return gate([...proxies, ...others], 'every proxy ACKs a leaf from the new issuer and old leaves are gone');
    }
    case 'P3_REMOVE_TRUST':
      return gate(
        fleet.proxies.filter((p) => !sameSet(p.trust, [state.next.rootFingerprint])).map((p) => p.id),
        'every proxy ACKs the new-only bundle',
      );
    case 'P4_RETIRED':
      return { open: false, waitingFor: [], reason: 'rotation complete' };
  }
}

export type AdvanceResult =
  | { readonly advanced: true; readonly state: RootRotationState }
  | { readonly advanced: false; readonly state: RootRotationState; readonly gate: GateResult };

/** Moves to the next phase if its gate is open; otherwise says who is holding it up. */
export function advanceRootRotation(state: RootRotationState, fleet: FleetView, now: number): AdvanceResult {
  const index = PHASE_ORDER.indexOf(state.phase);
  if (state.phase === 'P4_RETIRED' || state.aborted) {
    return { advanced: false, state, gate: { open: false, waitingFor: [], reason: state.aborted ? 'rotation aborted' : 'rotation complete' } };
  }
  const result = phaseGate(state, fleet, now);
  if (!result.open) return { advanced: false, state, gate: result };
  if (state.abort) {
    const done: RootRotationState = { ...state, aborted: true, phaseSince: now };
    checkTrustChange(phaseTrust(state), phaseTrust(done));
    return { advanced: true, state: done };
  }
  const next: RootRotationState = { ...state, phase: PHASE_ORDER[index + 1], phaseSince: now };
  checkTrustChange(phaseTrust(state), phaseTrust(next));
  return { advanced: true, state: next };
}

/** Whether the rotation is finished one way or the other (a new one may start). */
export function rotationOver(state: RootRotationState): boolean {
  return state.phase === 'P4_RETIRED' || state.aborted === true;
}

/**
 * Starts returning to the old root. Before P2 no leaf came from the new issuer, so P0 ends at once
 * and P1 as soon as the gate is checked; from P2 it waits for every proxy to hold an old-issuer
 * leaf again. From P3 on proxies may already trust the new root alone: refused.
 */
export function abortRootRotation(state: RootRotationState, now: number): RootRotationState {
  if (state.aborted) throw new RotationPhaseError(state.phase, 'the root rotation was already aborted');
  if (state.abort) return state;
  if (state.phase === 'P3_REMOVE_TRUST' || state.phase === 'P4_RETIRED') {
    throw new RotationPhaseError(
      state.phase,
      `cannot abort in ${state.phase}: proxies may already trust only the new root, so returning to the old one could cut them off; let the rotation finish`,
    );
  }
  if (state.phase === 'P0_PREPARE') return { ...state, aborted: true, abort: { at: now, from: state.phase }, phaseSince: now };
  return { ...state, abort: { at: now, from: state.phase }, phaseSince: now };
}

/** Removes proxies from every gate of this rotation. */
export function fenceProxies(state: RootRotationState, ids: readonly string[]): RootRotationState {
  if (rotationOver(state)) throw new RotationPhaseError(state.phase, 'no root rotation is in progress; there is no gate to fence a proxy out of');
  const fenced = [...new Set([...(state.fenced ?? []), ...ids])].sort();
  if (fenced.length > MAX_FENCED) throw new RotationPhaseError(state.phase, `at most ${MAX_FENCED} proxies can be fenced in one rotation`);
  return { ...state, fenced };
}

export function parseRootRotationState(json: string, where: string): RootRotationState {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new RotationPhaseError('P0_PREPARE', `${where}: not valid JSON`);
  }
  const state = raw as Partial<RootRotationState>;
  if (state.version !== 1) throw new RotationPhaseError('P0_PREPARE', `${where}: field "version" must be 1`);
  if (!state.phase || !PHASE_ORDER.includes(state.phase)) throw new RotationPhaseError('P0_PREPARE', `${where}: field "phase" is not a known phase`);
  for (const field of ['old', 'next'] as const) {
    const generation = state[field];
    if (!generation || typeof generation.rootCertPem !== 'string' || typeof generation.rootFingerprint !== 'string' || typeof generation.issuerFingerprint !== 'string') {
      throw new RotationPhaseError(state.phase, `${where}: field "${field}" is incomplete`);
    }
  }
  if (typeof state.startedAt !== 'number' || typeof state.phaseSince !== 'number') {
    throw new RotationPhaseError(state.phase, `${where}: fields "startedAt" and "phaseSince" must be numbers`);
  }
  return state as RootRotationState;
}
