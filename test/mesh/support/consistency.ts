/**
 * Cross-resource invariants of one proxy's resources (go-control-plane's Snapshot.Consistent):
 * every RDS name a listener uses exists, every cluster a route or tcp_proxy names exists, every
 * EDS cluster has its CLA, and nothing is sent that nothing references.
 */
import { TypeUrl } from '../../../src/xds/contract.js';
import type { ProxyResources } from '../../../src/mesh/index.js';

type Json = Record<string, unknown>;

function walk(value: unknown, visit: (node: Json) => void): void {
  if (Array.isArray(value)) value.forEach((v) => walk(v, visit));
  else if (value !== null && typeof value === 'object') {
    visit(value as Json);
    Object.values(value).forEach((v) => walk(v, visit));
  }
}

export function consistencyProblems(resources: ProxyResources): string[] {
  const problems: string[] = [];
  const names = (type: string): Set<string> => new Set(resources.get(type)?.keys() ?? []);
  const routes = names(TypeUrl.RouteConfiguration);
  const clusters = names(TypeUrl.Cluster);
  const loadAssignments = names(TypeUrl.ClusterLoadAssignment);
  const usedRoutes = new Set<string>();
  const usedClusters = new Set<string>();
  const usedLoadAssignments = new Set<string>();

  const collectClusterRefs = (node: Json): void => {
    if (typeof node.cluster === 'string') usedClusters.add(node.cluster);
    const weighted = node.weighted_clusters as { clusters: { name: string }[] } | undefined;
    weighted?.clusters.forEach((c) => usedClusters.add(c.name));
  };

  for (const listener of resources.get(TypeUrl.Listener)?.values() ?? []) {
    walk(listener, (node) => {
      const rds = node.rds as { route_config_name: string } | undefined;
      if (rds) usedRoutes.add(rds.route_config_name);
      const route = node.route as Json | undefined;
      if (route) collectClusterRefs(route);
      if (String(node['@type']).endsWith('.TcpProxy')) collectClusterRefs(node);
    });
  }
  for (const config of resources.get(TypeUrl.RouteConfiguration)?.values() ?? []) {
    walk(config, (node) => {
      const route = node.route as Json | undefined;
      if (route) collectClusterRefs(route);
    });
  }
  for (const cluster of resources.get(TypeUrl.Cluster)?.values() ?? []) {
    if (cluster.type !== 'EDS') continue;
    const eds = cluster.eds_cluster_config as { service_name?: string } | undefined;
    usedLoadAssignments.add(eds?.service_name ?? String(cluster.name));
  }

  for (const r of usedRoutes) if (!routes.has(r)) problems.push(`listener uses missing route config ${r}`);
  for (const r of routes) if (!usedRoutes.has(r)) problems.push(`route config ${r} is not used`);
  for (const c of usedClusters) if (!clusters.has(c)) problems.push(`missing cluster ${c}`);
  for (const c of clusters) if (!usedClusters.has(c)) problems.push(`cluster ${c} is not used`);
  for (const l of usedLoadAssignments) if (!loadAssignments.has(l)) problems.push(`missing CLA ${l}`);
  for (const l of loadAssignments) if (!usedLoadAssignments.has(l)) problems.push(`CLA ${l} is not used`);
  return problems;
}
