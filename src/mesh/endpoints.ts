import { isIP } from 'node:net';
import type { Locality, Workload } from '../core/workload.js';
import { socketAddress, uint32 } from './configurers/common.js';
import { compareStrings } from './hash.js';
import type { ClusterTarget } from './subsets.js';
import { inSubset } from './subsets.js';
import type { TranslationNote } from './types.js';
import type { Configured } from './configurers/traffic.js';
import { isCallerLocality, placeLocality, type LocalityPlan } from './locality.js';

/**
 * ClusterLoadAssignment of one cluster: the destination's usable workloads (HEALTHY, or UNKNOWN —
 * not yet checked), grouped by locality, at their mesh port. Always returned, even empty: a
 * missing CLA leaves Envoy's cluster warming and grpc waiting 15 s.
 *
 * Both flavours need literal IPs: EDS does not resolve hostnames (grpc NACKs them, Envoy rejects
 * them), so hostname workloads are left out with an ENDPOINT_NOT_IP note.
 */
export function clusterLoadAssignment(
  target: ClusterTarget,
  workloads: readonly Workload[],
  plan: LocalityPlan,
): Configured<Record<string, unknown>> {
  const notes: TranslationNote[] = [];
  const byLocality = new Map<string, { locality: Locality; endpoints: Workload[] }>();
  for (const workload of workloads) {
    if (workload.health !== 'HEALTHY' && workload.health !== 'UNKNOWN') continue;
    if (!inSubset(workload, target.labels)) continue;
    if (isIP(workload.address) === 0) {
      notes.push({ code: 'ENDPOINT_NOT_IP', message: `${target.clusterName}: workload ${workload.id} has address ${workload.address}, not an IP; left out` });
      continue;
    }
    const key = localityKey(workload.locality);
    const group = byLocality.get(key);
    if (group) group.endpoints.push(workload);
    else byLocality.set(key, { locality: workload.locality, endpoints: [workload] });
  }
  const groups = [...byLocality.entries()].sort(([a], [b]) => compareStrings(a, b)).map(([, group]) => group);
  const localities = groups.map((group) => group.locality);
  const placed = groups.flatMap((group) => {
    const place = placeLocality(plan, group.locality, localities);
    return place ? [{ group, place, own: isCallerLocality(plan, group.locality) }] : [];
  });
  // By priority, the caller's own locality first within its priority (as Envoy lists them).
  placed.sort((a, b) => a.place.priority - b.place.priority || Number(b.own) - Number(a.own));
  // Priorities must be contiguous from 0 (Envoy and gRPC refuse gaps): rank the ones in use.
  const ranks = [...new Set(placed.map(({ place }) => place.priority))].sort((a, b) => a - b);
  const endpoints = placed.map(({ group, place }) => ({
      locality: localityProto(group.locality),
      // Distributing: the locality's share of the caller's traffic (in hundredths of a percent).
      // Otherwise one unit per endpoint, so traffic spreads evenly over endpoints across localities.
      load_balancing_weight: uint32(plan.kind === 'distribute' ? Math.max(1, Math.round(place.share * 100)) : group.endpoints.length),
      ...(ranks.indexOf(place.priority) > 0 ? { priority: ranks.indexOf(place.priority) } : {}),
      lb_endpoints: group.endpoints
        .sort((a, b) => compareStrings(a.address, b.address) || a.meshPort - b.meshPort)
        .map((w) => ({ endpoint: { address: socketAddress(w.address, w.meshPort) }, health_status: w.health })),
    }));
  return { value: { cluster_name: target.clusterName, endpoints }, notes };
}

function localityKey(locality: Locality): string {
  return JSON.stringify([locality.region ?? '', locality.zone ?? '', locality.subZone ?? '']);
}

function localityProto(locality: Locality): Record<string, string> {
  return {
    ...(locality.region ? { region: locality.region } : {}),
    ...(locality.zone ? { zone: locality.zone } : {}),
    ...(locality.subZone ? { sub_zone: locality.subZone } : {}),
  };
}
