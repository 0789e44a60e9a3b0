import type { Workload } from '../../core/workload.js';

/**
 * The xDS node a workload presents, in the snake_case JSON both bootstraps use: its id (the
 * workload id, which the server looks up), its service as cluster, and its locality. Locality
 * is always present, with only the parts that are known: grpc-js-xds refuses a node without it.
 */
export function bootstrapNode(workload: Workload): { id: string; cluster: string; locality: Record<string, string> } {
  const locality: Record<string, string> = {};
  if (workload.locality.region) locality.region = workload.locality.region;
  if (workload.locality.zone) locality.zone = workload.locality.zone;
  if (workload.locality.subZone) locality.sub_zone = workload.locality.subZone;
  return { id: workload.id, cluster: workload.service, locality };
}
