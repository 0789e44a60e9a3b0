import type { Clock, TimerHandle } from '../core/clock.js';
import type { Logger } from '../observability/logger.js';

export interface LeaseRenewer {
  renew(workloadId: string): Promise<void>;
}

export interface StreamLeaseRenewalDeps {
  readonly leases: LeaseRenewer;
  /** The workload's lease (ms), if it is registered with one. */
  readonly leaseMs: (workloadId: string) => number | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Keeps a workload's lease alive while one of its proxies has a served xDS stream: a listener on
 * the mesh source's stream open (`served`) and close or denial (`idle`), per proxy.
 */
export class StreamLeaseRenewal {
  private readonly timers = new Map<string, TimerHandle>();
  private readonly log: Logger;

  constructor(private readonly deps: StreamLeaseRenewalDeps) {
    this.log = deps.logger.child({ component: 'mesh-source' });
  }

  /** A proxy has a served stream: renew its workload's lease every third of it (no-op if already). */
  served(proxyKey: string, workloadId: string): void {
    if (this.timers.has(proxyKey)) return;
    const leaseMs = this.deps.leaseMs(workloadId);
    if (!leaseMs) return;
    const tick = (): void => {
      this.deps.leases.renew(workloadId).catch((error: unknown) => {
        this.log.warn({ err: error, workloadId }, 'lease renewal failed; will retry');
      });
      this.timers.set(proxyKey, this.deps.clock.setTimeout(tick, Math.max(250, Math.floor(leaseMs / 3))));
    };
    tick();
  }

  /** The proxy has no served stream any more. */
  idle(proxyKey: string): void {
    this.deps.clock.clearTimeout(this.timers.get(proxyKey));
    this.timers.delete(proxyKey);
  }
}
