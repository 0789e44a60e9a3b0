import { fingerprintOfPem } from './authority.js';
import type { CaKv } from './kv.js';
import type { CaMaterial } from './material.js';
import {
  abortRootRotation,
  advanceRootRotation,
  fenceProxies,
  rotationOver,
  beginRootRotation,
  parseRootRotationState,
  RotationPhaseError,
  type AdvanceResult,
  type CaGeneration,
  type FleetView,
  type RootRotationState,
} from './root-rotation-plan.js';

export const DEFAULT_ROTATION_KEY = 'accord/ca/root-rotation';

/**
 * Where the next generation's material (R2 + I2, with keys) lives during a rotation, so every
 * replica signs P2 leaves with the same I2: `loadOrCreateShared(kv, kek, DEFAULT_NEXT_CA_KEY, ...)`.
 */
export const DEFAULT_NEXT_CA_KEY = 'accord/ca/material-next';

/** The public identity of a CA generation, as the planner compares it. */
export function caGeneration(material: CaMaterial): CaGeneration {
  return {
    rootCertPem: material.root.certPem,
    rootFingerprint: fingerprintOfPem(material.root.certPem),
    issuerFingerprint: fingerprintOfPem(material.issuer.certPem),
  };
}

/**
 * Root rotation state shared through the KV with compare-and-set, so two replicas never disagree
 * on the phase: whichever writes first wins, the other re-reads and continues from there.
 */
export class RootRotation {
  constructor(
    private readonly kv: CaKv,
    private readonly key: string = DEFAULT_ROTATION_KEY,
  ) {}

  /** The persisted state, if a rotation has been started. */
  async current(): Promise<RootRotationState | undefined> {
    return (await this.read())?.state;
  }

  /** Starts P0 unless a rotation is already under way (then returns that one unchanged). */
  async begin(old: CaGeneration, next: CaGeneration, now: number): Promise<RootRotationState> {
    for (;;) {
      const stored = await this.read();
      if (stored && !rotationOver(stored.state)) return stored.state;
      const state = beginRootRotation(old, next, now);
      if (await this.kv.kvPutIfVersion(this.key, JSON.stringify(state), stored?.version)) return state;
    }
  }

  /**
   * Advances one phase if its gate is open for `fleet`. On a lost race the other replica's state is
   * re-read and the gate re-evaluated from there.
   */
  async advance(fleet: FleetView, now: number): Promise<AdvanceResult> {
    for (;;) {
      const stored = await this.read();
      if (!stored) throw new RotationPhaseError('P0_PREPARE', `${this.key}: no root rotation has been started`);
      const result = advanceRootRotation(stored.state, fleet, now);
      if (!result.advanced) return result;
      if (await this.kv.kvPutIfVersion(this.key, JSON.stringify(result.state), stored.version)) return result;
    }
  }

  /** `accord ca rotate --abort` (see abortRootRotation). */
  async abort(now: number): Promise<RootRotationState> {
    return this.update((state) => abortRootRotation(state, now));
  }

  /** `accord ca fence` (see fenceProxies). */
  async fence(ids: readonly string[]): Promise<RootRotationState> {
    return this.update((state) => fenceProxies(state, ids));
  }

  private async update(change: (state: RootRotationState) => RootRotationState): Promise<RootRotationState> {
    for (;;) {
      const stored = await this.read();
      if (!stored) throw new RotationPhaseError('P0_PREPARE', 'no root rotation has been started');
      const next = change(stored.state);
      if (next === stored.state) return next;
      if (await this.kv.kvPutIfVersion(this.key, JSON.stringify(next), stored.version)) return next;
    }
  }

  private async read(): Promise<{ state: RootRotationState; version: number } | undefined> {
    const stored = await this.kv.kvGet(this.key);
    if (!stored) return undefined;
    return { state: parseRootRotationState(stored.value, this.key), version: stored.version };
  }
}
