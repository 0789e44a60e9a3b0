/**
 * Metrics the runbooks and alerts (docs/operations.md, deploy/prometheus/accord-rules.yaml) need
 * that no single component owns: computed at scrape time from what the composition root holds.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ProxySummary } from '../xds/index.js';

export interface OperationsMetricsDeps {
  readonly proxies: () => readonly ProxySummary[];
  /** Registered workloads in this replica's registry snapshot. */
  readonly workloads: () => number;
  /** When the current root-rotation phase began (undefined: no rotation under way). */
  readonly rootRotationPhaseSince: () => number | undefined;
  readonly now: () => number;
}

export interface OperationsMetrics {
  readonly policyRejections: Counter;
}

export type StreamSyncState = 'synced' | 'pending' | 'nacked';

/** A stream's state is its worst resource's: any NACK, else anything sent and not yet ACKed. */
export function streamSyncState(proxy: ProxySummary): StreamSyncState {
  let pending = false;
  for (const type of proxy.types) {
    if (type.nacked) return 'nacked';
    if (type.oldestUnackedAt !== undefined) pending = true;
  }
  return pending ? 'pending' : 'synced';
}

export function registerOperationsMetrics(registry: Registry, deps: OperationsMetricsDeps): OperationsMetrics {
  new Gauge({
    name: 'accord_proxy_streams',
    help: 'Open xDS streams by sync state: synced (all ACKed), pending (sent, not yet ACKed), nacked (the proxy rejected something)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const counts: Record<StreamSyncState, number> = { synced: 0, pending: 0, nacked: 0 };
      for (const proxy of deps.proxies()) counts[streamSyncState(proxy)] += 1;
      for (const [state, count] of Object.entries(counts)) this.set({ state }, count);
    },
  });
  new Gauge({
    name: 'accord_registry_workloads',
    help: "Workloads in this replica's registry snapshot",
    registers: [registry],
    collect() {
      this.set(deps.workloads());
    },
  });
  new Gauge({
    name: 'accord_ca_root_rotation_phase_seconds',
    help: 'How long the current root-rotation phase has lasted (0: no rotation under way); a phase whose gate never opens holds it',
    registers: [registry],
    collect() {
      const since = deps.rootRotationPhaseSince();
      this.set(since === undefined ? 0 : Math.max(0, (deps.now() - since) / 1000));
    },
  });
  return {
    policyRejections: new Counter({
      name: 'accord_policy_rejected_changes_total',
      help: 'Policy changes rejected by validation (watched files or the API); the previous policies stay in force',
      registers: [registry],
    }),
  };
}

/** The start of the current root-rotation phase from the CA's status (`rootRotation.since`). */
export function rootRotationPhaseSince(caStatus: unknown): number | undefined {
  if (typeof caStatus !== 'object' || caStatus === null) return undefined;
  const rotation = (caStatus as { rootRotation?: { phase?: unknown; since?: unknown } }).rootRotation;
  if (!rotation || typeof rotation.since !== 'string') return undefined;
  if (rotation.phase === 'none' || rotation.phase === 'P4_RETIRED' || rotation.phase === 'ABORTED') return undefined;
  const since = Date.parse(rotation.since);
  return Number.isNaN(since) ? undefined : since;
}
