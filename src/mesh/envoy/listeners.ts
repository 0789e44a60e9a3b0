import type { MeshSpec } from '../../core/policy.js';
import type { Upstream, Workload } from '../../core/workload.js';
import { ProtoType, anyOf, duration, socketAddress } from '../configurers/common.js';
import {
  downstreamAlpn,
  httpConnectionManagerFilter,
  isHttpProtocol,
  maxConnectionDurationOptions,
  routerFilter,
} from '../configurers/http.js';
import { httpRbacFilters, networkRbacFilters, type RbacPlan } from '../configurers/rbac.js';
import { tcpClusterSpecifier } from '../configurers/route-action.js';
import { envoyDownstreamTls, transportSocket } from '../configurers/tls.js';
import { maxConnectionDurationMs } from '../connection-lifetime.js';
import type { ServiceView } from '../model.js';
import {
  DEFAULT_ROUTE,
  FilterChainName,
  FilterName,
  INBOUND_VIRTUAL_HOST,
  inboundClusterName,
  inboundListenerName,
  inboundRouteName,
  outboundListenerName,
  outboundRouteName,
  statPrefix,
} from '../names.js';
import type { ClusterTarget } from '../subsets.js';

/**
 * The sidecar's inbound listener on 0.0.0.0:<meshPort>: mTLS termination, RBAC, then the local app.
 * STRICT: one TLS chain. PERMISSIVE: the TLS inspector picks a TLS or a plaintext chain, both with
 * the same filters (plaintext callers have no identity, so they only pass when no ALLOW applies).
 */
export function inboundListener(workload: Workload, mesh: MeshSpec, rbac: RbacPlan): Record<string, unknown> {
  const filters = inboundFilters(workload, mesh, rbac);
  const tls = transportSocket(envoyDownstreamTls(mesh.trustDomain, downstreamAlpn(workload.protocol)));
  const base = {
    name: inboundListenerName(workload.meshPort),
    address: socketAddress('0.0.0.0', workload.meshPort),
    traffic_direction: 'INBOUND',
  };
  if (mesh.mtls === 'STRICT') {
    return { ...base, filter_chains: [{ name: FilterChainName.mtls, filters, transport_socket: tls }] };
  }
  return {
    ...base,
    listener_filters: [{ name: FilterName.tlsInspector, typed_config: anyOf(ProtoType.tlsInspector, {}) }],
    filter_chains: [
      { name: FilterChainName.mtls, filter_chain_match: { transport_protocol: 'tls' }, filters, transport_socket: tls },
      { name: FilterChainName.plaintext, filter_chain_match: { transport_protocol: 'raw_buffer' }, filters },
    ],
  };
}

function inboundFilters(workload: Workload, mesh: MeshSpec, rbac: RbacPlan): Record<string, unknown>[] {
  const prefix = statPrefix('inbound', workload.meshPort);
  const lifetimeMs = maxConnectionDurationMs(mesh);
  const cluster = inboundClusterName(workload.port);
  if (!isHttpProtocol(workload.protocol)) {
    return [
      ...networkRbacFilters(rbac, prefix),
      {
        name: FilterName.tcpProxy,
        typed_config: anyOf(ProtoType.tcpProxy, {
          stat_prefix: prefix,
          cluster,
          max_downstream_connection_duration: duration(lifetimeMs),
        }),
      },
    ];
  }
  return [
    httpConnectionManagerFilter({
      stat_prefix: prefix,
      codec_type: 'AUTO',
      route_config: {
        name: inboundRouteName(workload.port),
        virtual_hosts: [
          {
            name: INBOUND_VIRTUAL_HOST,
            domains: ['*'],
            // Timeouts are the caller's business; no route timeout here.
            routes: [{ name: DEFAULT_ROUTE, match: { prefix: '/' }, route: { cluster, timeout: duration(0) } }],
          },
        ],
      },
      http_filters: [...httpRbacFilters(rbac), routerFilter()],
      common_http_protocol_options: maxConnectionDurationOptions(lifetimeMs),
      // Tell the application who called (the caller's SPIFFE ID in x-forwarded-client-cert).
      forward_client_cert_details: 'SANITIZE_SET',
      set_current_client_cert_details: { uri: true },
    }),
  ];
}

/** A listener on 127.0.0.1:<localPort> for the app to reach one upstream service. */
export function outboundListener(upstream: Upstream, service: ServiceView, targets: readonly ClusterTarget[]): Record<string, unknown> {
  const prefix = statPrefix('outbound', upstream.localPort);
  const filters = isHttpProtocol(service.protocol)
    ? [
        httpConnectionManagerFilter({
          stat_prefix: prefix,
          codec_type: 'AUTO',
          rds: {
            route_config_name: outboundRouteName(service.name, service.namespace),
            config_source: { ads: {}, resource_api_version: 'V3' },
          },
          http_filters: [routerFilter()],
        }),
      ]
    : [{ name: FilterName.tcpProxy, typed_config: anyOf(ProtoType.tcpProxy, { stat_prefix: prefix, ...tcpClusterSpecifier(targets) }) }];
  return {
    name: outboundListenerName(upstream.localPort),
    address: socketAddress('127.0.0.1', upstream.localPort),
    traffic_direction: 'OUTBOUND',
    filter_chains: [{ filters }],
  };
}
