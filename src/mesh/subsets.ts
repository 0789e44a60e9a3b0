import type { Workload } from '../core/workload.js';
import type { ServiceView } from './model.js';
import { outboundClusterName } from './names.js';

/** One EDS cluster of a destination service: the whole service, or one weighted subset of it. */
export interface ClusterTarget {
  readonly clusterName: string;
  readonly subset: string | undefined;
  /** Workloads must carry all these labels (empty: every workload). */
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
}

/**
 * The clusters traffic to a service is split across. With a split, one cluster per subset of
 * positive weight; otherwise the single service cluster.
 */
export function clusterTargets(service: ServiceView): ClusterTarget[] {
  const split = (service.trafficPolicy?.split ?? []).filter((s) => s.weight > 0);
  if (split.length === 0) {
    return [{ clusterName: outboundClusterName(service.name, service.namespace), subset: undefined, labels: {}, weight: 1 }];
  }
  return split.map((s) => ({
    clusterName: outboundClusterName(service.name, service.namespace, s.name),
    subset: s.name,
    labels: s.labels,
    weight: s.weight,
  }));
}

export function inSubset(workload: Workload, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(labels).every(([key, value]) => workload.labels[key] === value);
}
