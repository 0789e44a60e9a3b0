import { realClock, type Clock, type TimerHandle } from '../core/clock.js';
import {
  CertificateAuthority,
  RootRotation,
  caGeneration,
  phaseGate,
  type CaMaterial,
  type FleetView,
  type GateResult,
  type RootRotationState,
} from '../ca/index.js';
import type { Logger } from '../observability/logger.js';
import { rotationOver } from '../ca/index.js';
import type { CaGenerationStore } from './ca-generations.js';

export interface RootRotationDeps {
  /** Time and timers; the real clock by default. */
  readonly clock?: Clock;
  readonly rotation: RootRotation;
  readonly generations: CaGenerationStore;
  /** The CA that signs now (its material is replaced at P4). */
  readonly current: CertificateAuthority;
  readonly makeCa: (material: CaMaterial) => CertificateAuthority;
  readonly fleet: () => FleetView;
  /** Called whenever the phase (and so what every proxy should trust or be issued) changes. */
  readonly onPhaseChange: () => void;
  readonly logger: Logger;
  readonly now: () => number;
  readonly tickMs?: number;
}

/**
 * Runs a root rotation (P0–P4) on top of the pure planner: keeps this replica in step with the
 * shared phase state (any replica may advance it; compare-and-set decides), holds the next CA
 * generation, advances whenever a gate opens, and promotes the new generation at the end.
 */
export class RootRotationCoordinator {
  private state: RootRotationState | undefined;
  private next: CertificateAuthority | undefined;
  private timer: TimerHandle | undefined;
  private busy: Promise<void> | undefined;
  private lastGate: GateResult | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly deps: RootRotationDeps) {
    this.log = deps.logger.child({ component: 'root-rotation' });
    this.clock = deps.clock ?? realClock;
  }

  start(): void {
    const tick = (): void => {
      this.busy ??= this.step()
        .catch((error: unknown) => this.log.warn({ err: error }, 'root rotation step failed; will retry'))
        .finally(() => {
          this.busy = undefined;
        });
    };
    const every = this.deps.tickMs ?? 500;
    const loop = (): void => {
      tick();
      this.timer = this.clock.setTimeout(loop, every);
    };
    loop();
  }

  stop(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The rotation in progress, or undefined when none is (a completed or aborted one counts as none). */
  get active(): RootRotationState | undefined {
    return this.state && !rotationOver(this.state) ? this.state : undefined;
  }

  /** The CA that signs leaves from the next generation, while a rotation is in progress. */
  get nextCa(): CertificateAuthority | undefined {
    return this.active ? this.next : undefined;
  }

  /** `accord ca rotate`: starts a rotation, or reports the one under way. */
  async begin(trustDomain: string): Promise<RootRotationState> {
    const existing = this.active ?? (await this.deps.rotation.current());
    if (existing && !rotationOver(existing)) return existing;
    const now = this.deps.now();
    const currentMaterial = this.deps.current.currentMaterial;
    const nextMaterial = await this.deps.generations.createNext(currentMaterial, trustDomain, now);
    const state = await this.deps.rotation.begin(caGeneration(currentMaterial), caGeneration(nextMaterial), now);
    this.log.warn({ phase: state.phase, nextRoot: caGeneration(nextMaterial).rootFingerprint }, 'root rotation started');
    await this.step();
    return this.active ?? state;
  }

  /**
   * Where the rotation is: `phase` is P0..P4, or ABORTING / ABORTED after `--abort` (`abortedFrom`
   * says from which phase); `waitedSeconds` is how long the current gate has been closed.
   */
  status(): {
    phase: string;
    since?: string;
    waitedSeconds?: number;
    waitingFor: readonly string[];
    fenced?: readonly string[];
    abortedFrom?: string;
    reason?: string;
  } {
    const state = this.state;
    if (!state) return { phase: 'none', waitingFor: [] };
    const now = this.deps.now();
    const gate = this.active ? phaseGate(state, this.deps.fleet(), now) : undefined;
    const phase = state.aborted ? 'ABORTED' : state.abort ? 'ABORTING' : state.phase;
    return {
      phase,
      since: new Date(state.phaseSince).toISOString(),
      waitedSeconds: Math.max(0, Math.round((now - state.phaseSince) / 1000)),
      waitingFor: gate?.waitingFor ?? [],
      fenced: state.fenced ?? [],
      ...(state.abort ? { abortedFrom: state.abort.from } : {}),
      reason: gate?.reason ?? (state.aborted ? 'rotation aborted: the old root is the only one trusted' : 'rotation complete'),
    };
  }

  /** `accord ca rotate --abort`. */
  async abort(): Promise<void> {
    const state = await this.deps.rotation.abort(this.deps.now());
    this.log.warn({ phase: state.phase, aborted: state.aborted === true }, 'root rotation abort requested');
    await this.step();
  }

  /** `accord ca fence`: these proxy ids no longer hold any gate of this rotation. */
  async fence(ids: readonly string[]): Promise<void> {
    await this.deps.rotation.fence(ids);
    this.log.warn({ fenced: ids }, 'proxies fenced out of the root rotation gates');
    await this.step();
  }

  /** Syncs with the shared state, then advances if the current gate is open. */
  private async step(): Promise<void> {
    await this.sync();
    if (!this.active) return;
    const result = await this.deps.rotation.advance(this.deps.fleet(), this.deps.now());
    if (result.advanced) {
      this.log.warn({ phase: result.state.phase }, 'root rotation advanced');
      await this.sync();
    } else if (result.gate.reason !== this.lastGate?.reason) {
      this.lastGate = result.gate;
      this.log.info({ phase: result.state.phase, waitingFor: result.gate.waitingFor.slice(0, 20), reason: result.gate.reason }, 'root rotation gate closed');
    }
  }

  private async sync(): Promise<void> {
    const shared = await this.deps.rotation.current();
    const previous = this.state;
    if (shared && !rotationOver(shared) && !this.next) {
      const material = await this.deps.generations.loadNext();
      if (!material) throw new Error('a root rotation is under way but the next CA generation is missing from the store');
      this.next = this.deps.makeCa(material);
    }
    if (shared?.aborted && this.next) {
      // The old generation stays; the next one is no longer trusted or used.
      this.next = undefined;
      this.log.warn('root rotation aborted: the old root is the only trusted root again');
    }
    if (shared?.phase === 'P4_RETIRED' && this.next) {
      // Retire the old generation: the new one becomes the current CA everywhere.
      const material = this.next.currentMaterial;
      await this.deps.generations.promote(material);
      this.deps.current.useMaterial(material);
      this.next = undefined;
      this.log.warn('root rotation complete: the new root and intermediate are now the only CA');
    }
    this.state = shared;
    if (
      previous?.phase !== shared?.phase ||
      previous?.startedAt !== shared?.startedAt ||
      previous?.abort?.at !== shared?.abort?.at ||
      previous?.aborted !== shared?.aborted
    ) {
      this.deps.onPhaseChange();
    }
  }
}
