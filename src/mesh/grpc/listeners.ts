import type { MtlsMode } from '../../core/policy.js';
import type { Workload } from '../../core/workload.js';
import { ProtoType, anyOf, socketAddress } from '../configurers/common.js';
import { httpConnectionManagerFilter, routerFilter } from '../configurers/http.js';
import { httpRbacFilters, type RbacPlan } from '../configurers/rbac.js';
import { grpcDownstreamTls, transportSocket } from '../configurers/tls.js';
import { DEFAULT_ROUTE, FilterChainName, INBOUND_VIRTUAL_HOST, grpcServerListenerName, inboundRouteName, statPrefix } from '../names.js';

/** A proxyless client's Listener for one dial target: api_listener HCM, RDS over ADS, router last. */
export function clientListener(name: string, routeConfigName: string): Record<string, unknown> {
  return {
    name,
    api_listener: {
      api_listener: anyOf(ProtoType.hcm, {
        // Unused by grpc, but required by the proto's validation rules.
        stat_prefix: name,
        rds: { route_config_name: routeConfigName, config_source: { ads: {} } },
        http_filters: [routerFilter()],
      }),
    },
  };
}

/**
 * An xDS-enabled gRPC server's Listener. One filter chain with no `filter_chain_match` (the only
 * form grpc-js-xds matches), always TLS so the layout never changes between updates: PERMISSIVE
 * only stops requiring a client certificate (docs/decisions/0002-proxyless-permissive.md).
 */
export function serverListener(workload: Workload, mtls: MtlsMode, rbac: RbacPlan): Record<string, unknown> {
  return {
    name: grpcServerListenerName(workload.address, workload.port),
    address: socketAddress(workload.address, workload.port),
    filter_chains: [
      {
        name: FilterChainName.proxylessInbound,
        filters: [
          httpConnectionManagerFilter({
            stat_prefix: statPrefix('inbound', workload.port),
            route_config: {
              name: inboundRouteName(workload.port),
              virtual_hosts: [
                { name: INBOUND_VIRTUAL_HOST, domains: ['*'], routes: [{ name: DEFAULT_ROUTE, match: { prefix: '' }, non_forwarding_action: {} }] },
              ],
            },
            http_filters: [...httpRbacFilters(rbac), routerFilter()],
          }),
        ],
        transport_socket: transportSocket(grpcDownstreamTls(mtls === 'STRICT')),
      },
    ],
  };
}
