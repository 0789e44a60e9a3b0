import { spiffeId } from '../../core/workload.js';
import { grpcUpstreamTls, transportSocket } from '../configurers/tls.js';
import { clusterTrafficFields, type Configured } from '../configurers/traffic.js';
import type { ServiceView } from '../model.js';
import type { LocalityPlan } from '../locality.js';
import type { ClusterTarget } from '../subsets.js';

/** An EDS cluster for a proxyless client; TLS from the bootstrap's certificate provider. */
export function clientCluster(
  service: ServiceView,
  target: ClusterTarget,
  trustDomain: string,
  plan: LocalityPlan,
): Configured<Record<string, unknown>> {
  const traffic = clusterTrafficFields(service.trafficPolicy, 'grpc', target.clusterName, plan);
  const identities = service.serviceAccounts.map((account) => spiffeId(trustDomain, service.namespace, account));
  return {
    value: {
      name: target.clusterName,
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {} }, service_name: target.clusterName },
      ...traffic.value,
      transport_socket: transportSocket(grpcUpstreamTls(identities)),
    },
    notes: traffic.notes,
  };
}
