import { TypeUrl } from './contract.js';

/**
 * Make-before-break order for ADS (xds_protocol "Eventual consistency considerations"):
 * clusters, then their endpoints, then secrets they and listeners need, then listeners, then
 * routes. Unknown types go last. Removals of clusters and endpoints are deferred until the rest
 * has been sent (see the sessions).
 */
const ADS_ORDER: readonly string[] = [
  TypeUrl.Cluster,
  TypeUrl.ClusterLoadAssignment,
  TypeUrl.Secret,
  TypeUrl.Listener,
  TypeUrl.RouteConfiguration,
];

export function adsRank(typeUrl: string): number {
  const index = ADS_ORDER.indexOf(typeUrl);
  return index < 0 ? ADS_ORDER.length : index;
}

/**
 * Wildcard subscriptions exist only for Listener and Cluster; an empty first request for RDS,
 * EDS or SDS must not return everything (go-control-plane#1092, #1323). These are also the
 * types whose SotW responses carry the full state (absence means deletion).
 */
export function isWildcardType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Listener || typeUrl === TypeUrl.Cluster;
}

/** Types whose deletions are deferred to the end of a push (make-before-break). */
export function removesLast(typeUrl: string): boolean {
  return typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.ClusterLoadAssignment;
}

const SHORT_NAMES = new Map<string, string>([
  [TypeUrl.Listener, 'Listener'],
  [TypeUrl.RouteConfiguration, 'RouteConfiguration'],
  [TypeUrl.Cluster, 'Cluster'],
  [TypeUrl.ClusterLoadAssignment, 'ClusterLoadAssignment'],
  [TypeUrl.Secret, 'Secret'],
]);

/** A bounded label for metrics: known types by short name, everything else as "other". */
export function typeLabel(typeUrl: string): string {
  return SHORT_NAMES.get(typeUrl) ?? 'other';
}
