/**
 * What a Prometheus user of a mesh expects to graph (deploy/grafana/accord-dashboard.json):
 * workload certificate expiry (a histogram and the minimum: bounded, no per-workload labels),
 * certificates issued, policy changes, the root-rotation phase, and proxies per xDS sync state.
 * Gauges are computed at scrape time from the callbacks given.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const ISSUED_CERTIFICATES = 'accord_certificate_issued_total';

/** Workload certificates issued, over SDS or to agents; shared by every issuer in the process. */
export function issuedCertificates(registry: Registry): Counter<'result'> {
  const existing = registry.getSingleMetric(ISSUED_CERTIFICATES);
  if (existing instanceof Counter) return existing as Counter<'result'>;
  return new Counter({
    name: ISSUED_CERTIFICATES,
    help: 'Workload certificates issued, over SDS and to agents: issued (first), rotated, rate_limited, failed',
    labelNames: ['result'],
    registers: [registry],
  });
}

/** Every phase `accord_ca_root_rotation_phase` reports, so each series exists (0 or 1). */
export const ROTATION_PHASES = ['none', 'P0_PREPARE', 'P1_ADD_TRUST', 'P2_SWITCH_ISSUER', 'P3_REMOVE_TRUST', 'P4_RETIRED', 'ABORTING', 'ABORTED'] as const;
const SYNC_TYPES = ['CDS', 'EDS', 'LDS', 'RDS', 'SDS'] as const;
const SYNC_STATES = ['SYNCED', 'SENT', 'STALE', 'NACKED', 'NOT SENT'] as const;

export interface MeshMetricsDeps {
  /** notAfter (ms) of every valid workload leaf this replica issued. */
  readonly leafExpiries: () => readonly number[];
  readonly rotationPhase: () => string;
  /** Per connected proxy on this replica, its state per xDS type. */
  readonly syncStates: () => readonly Readonly<Record<string, string>>[];
  readonly now: () => number;
}

export interface MeshMetrics {
  readonly policyChanges: Counter<'result'>;
}

export function registerMeshMetrics(registry: Registry, deps: MeshMetricsDeps): MeshMetrics {
  new Histogram({
    name: 'accord_workload_certificate_expiry_seconds',
    help: "Seconds until each valid workload certificate this replica issued expires (one observation per workload's current leaf, at scrape time)",
    buckets: [600, 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400, 30 * 86_400],
    registers: [registry],
    collect() {
      this.reset();
      const now = deps.now();
      for (const notAfter of deps.leafExpiries()) this.observe(Math.max(0, (notAfter - now) / 1000));
    },
  });
  new Gauge({
    name: 'accord_workload_certificate_expiry_min_seconds',
    help: 'Seconds until the soonest-expiring workload certificate this replica issued expires (+Inf while none is held: the minimum of nothing)',
    registers: [registry],
    collect() {
      const expiries = deps.leafExpiries();
      this.set(expiries.length === 0 ? Number.POSITIVE_INFINITY : Math.max(0, (Math.min(...expiries) - deps.now()) / 1000));
    },
  });
  new Gauge({
    name: 'accord_ca_root_rotation_phase',
    help: 'The root-rotation phase: 1 for the current one (none, P0..P4, ABORTING, ABORTED), 0 for the others',
    labelNames: ['phase'],
    registers: [registry],
    collect() {
      const current = deps.rotationPhase();
      for (const phase of ROTATION_PHASES) this.set({ phase }, phase === current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'accord_proxy_sync',
    help: "Proxies connected to this replica, per xDS type and sync state (as `accord status` shows them)",
    labelNames: ['type', 'state'],
    registers: [registry],
    collect() {
      const counts = new Map<string, number>();
      for (const proxy of deps.syncStates()) {
        for (const type of SYNC_TYPES) {
          const key = `${type}|${proxy[type] ?? 'NOT SENT'}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
      }
      for (const type of SYNC_TYPES) for (const state of SYNC_STATES) this.set({ type, state }, counts.get(`${type}|${state}`) ?? 0);
    },
  });
  return {
    policyChanges: new Counter({
      name: 'accord_policy_changes_total',
      help: 'Policy changes by result: accepted (stored and in force) or rejected (validation failed; the previous policies stay)',
      labelNames: ['result'],
      registers: [registry],
    }),
  };
}
