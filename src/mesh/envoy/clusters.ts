import { spiffeId, type Workload } from '../../core/workload.js';
import { duration, socketAddress, uint32 } from '../configurers/common.js';
import type { CallerConnectionLimits } from '../connection-lifetime.js';
import { http2ProtocolOptions, isHttpProtocol, meshHttpProtocolOptions, speaksHttp2, upstreamAlpn } from '../configurers/http.js';
import { transportSocket, envoyUpstreamTls } from '../configurers/tls.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, clusterTrafficFields, type Configured } from '../configurers/traffic.js';
import type { ServiceView } from '../model.js';
import { inboundClusterName } from '../names.js';
import type { LocalityPlan } from '../locality.js';
import type { ClusterTarget } from '../subsets.js';

/** The largest threshold Envoy takes (uint32): no limit in practice. */
const UNLIMITED = 4_294_967_295;

/**
 * The STATIC cluster from the sidecar to its own application on 127.0.0.1:<port>. Its circuit
 * breaker is open-ended: Envoy's default (1024 connections, pending and active requests per
 * cluster) would silently cap every workload's concurrent inbound connections at 1024, whatever
 * the callers' TrafficPolicy allows; limits on a destination belong to its callers' clusters.
 */
export function inboundCluster(workload: Workload): Record<string, unknown> {
  const name = inboundClusterName(workload.port);
  return {
    name,
    type: 'STATIC',
    connect_timeout: duration(DEFAULT_CONNECT_TIMEOUT_MS),
    circuit_breakers: {
      thresholds: [{ priority: 'DEFAULT', max_connections: uint32(UNLIMITED), max_pending_requests: uint32(UNLIMITED), max_requests: uint32(UNLIMITED) }],
    },
    load_assignment: {
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress('127.0.0.1', workload.port) } }] }],
    },
    ...(speaksHttp2(workload.protocol) ? { typed_extension_protocol_options: http2ProtocolOptions() } : {}),
  };
}

/** An EDS cluster to a destination (or one subset), over mTLS to the destination's identities. */
export function outboundCluster(
  service: ServiceView,
  target: ClusterTarget,
  trustDomain: string,
  plan: LocalityPlan,
  limits: CallerConnectionLimits,
): Configured<Record<string, unknown>> {
  const traffic = clusterTrafficFields(service.trafficPolicy, 'envoy', target.clusterName, plan, isHttpProtocol(service.protocol));
  const identities = service.serviceAccounts.map((account) => spiffeId(trustDomain, service.namespace, account));
  return {
    value: {
      name: target.clusterName,
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: target.clusterName },
      ...traffic.value,
      ...(isHttpProtocol(service.protocol) ? { typed_extension_protocol_options: meshHttpProtocolOptions(service.protocol, limits) } : {}),
      transport_socket: transportSocket(envoyUpstreamTls(target.clusterName, identities, upstreamAlpn(service.protocol))),
    },
    notes: traffic.notes,
  };
}
