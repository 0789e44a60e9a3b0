import { Counter, Gauge, type Registry } from 'prom-client';

/** What the registry exports to /metrics. Created once by the composition root. */
export interface RegistryMetrics {
  readonly resyncs: Counter;
  readonly restores: Counter<'result'>;
  readonly feedErrors: Counter;
  readonly localRevision: Gauge;
}

export function createRegistryMetrics(registry: Registry): RegistryMetrics {
  return {
    resyncs: new Counter({
      name: 'accord_registry_resyncs_total',
      help: 'Full reads of the registry store after a feed gap, reconnect or restore',
      registers: [registry],
    }),
    restores: new Counter({
      name: 'accord_registry_restores_total',
      help: 'Times this replica found the store had lost its data, by outcome of re-seeding it',
      labelNames: ['result'],
      registers: [registry],
    }),
    feedErrors: new Counter({
      name: 'accord_registry_feed_errors_total',
      help: 'Failed reads of the registry change feed (Redis unreachable)',
      registers: [registry],
    }),
    localRevision: new Gauge({
      name: 'accord_registry_local_revision',
      help: "Registry revision this replica's local copy has reached",
      registers: [registry],
    }),
  };
}

/** Lease reaping, for either store: mass expiries and control-plane-wide outages show here. */
export interface LeaseMetrics {
  readonly expired: Counter;
  readonly extensions: Counter;
}

export function createLeaseMetrics(registry: Registry): LeaseMetrics {
  return {
    expired: new Counter({
      name: 'accord_registry_leases_expired_total',
      help: 'Workloads this replica removed because nothing renewed their lease',
      registers: [registry],
    }),
    extensions: new Counter({
      name: 'accord_registry_lease_extensions_total',
      help: 'Times this replica found no replica had been up before it and extended every lease',
      registers: [registry],
    }),
  };
}

/** 1 while the registry store answers (always for the memory store), 0 while it is unreachable. */
export function registerStoreUp(registry: Registry, reachable: () => boolean): void {
  new Gauge({
    name: 'accord_registry_store_up',
    help: 'Whether the registry store (Redis) is reachable from this replica',
    registers: [registry],
    collect() {
      this.set(reachable() ? 1 : 0);
    },
  });
}
