import type { ClusterTarget } from '../subsets.js';
import { uint32 } from './common.js';

/** `cluster` for one target, `weighted_clusters` for a split. */
export function clusterSpecifier(targets: readonly ClusterTarget[]): Record<string, unknown> {
  if (targets.length === 1) return { cluster: targets[0].clusterName };
  return { weighted_clusters: { clusters: targets.map((t) => ({ name: t.clusterName, weight: uint32(t.weight) })) } };
}

/** The same for tcp_proxy, whose weights are plain integers. */
export function tcpClusterSpecifier(targets: readonly ClusterTarget[]): Record<string, unknown> {
  if (targets.length === 1) return { cluster: targets[0].clusterName };
  return { weighted_clusters: { clusters: targets.map((t) => ({ name: t.clusterName, weight: t.weight })) } };
}
