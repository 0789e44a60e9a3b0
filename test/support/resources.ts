/**
 * Small Envoy resource factories for transport tests, encoded with the server's ResourceEncoder.
 * Shapes follow what grpc-js-xds accepts (see /work/shared/reference/grpc-js-xds.md), so the
 * same factories serve the raw-client conformance tests and the real-client tests.
 */
import { TypeUrl, type EncodedResource } from '../../src/xds/contract.js';
import type { ResourceEncoder } from '../../src/xds/index.js';

export const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const ROUTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
export const RBAC_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC';
export const UPSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
export const DOWNSTREAM_TLS_TYPE = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

export interface EndpointInit {
  address: string;
  port: number;
}

export interface ClusterOptions {
  /** EDS service name; defaults to the cluster name. */
  serviceName?: string;
  lbPolicy?: string;
  /** Any extra content, e.g. to force a new version without changing the name. */
  connectTimeoutSeconds?: number;
  /** mTLS to the endpoints with the `default` certificate provider, expecting this URI SAN. */
  tlsPeerSan?: string;
}

export interface ClaOptions {
  region?: string;
  zone?: string;
  /** Leave out `locality` (grpc-js-xds NACKs this). */
  omitLocality?: boolean;
  /** Padding bytes carried in the endpoint's metadata, to make large resources. */
  paddingBytes?: number;
}

export function listenerMessage(name: string, routeConfigName: string): Record<string, unknown> {
  return {
    name,
    api_listener: {
      api_listener: {
        '@type': HCM_TYPE,
        rds: { route_config_name: routeConfigName, config_source: { ads: {} } },
        http_filters: [{ name: 'router', typed_config: { '@type': ROUTER_TYPE } }],
      },
    },
  };
}

export function routeMessage(name: string, clusterName: string, domains: string[] = ['*']): Record<string, unknown> {
  return {
    name,
    virtual_hosts: [
      {
        name: `${name}-vh`,
        domains,
        routes: [{ match: { prefix: '' }, route: { cluster: clusterName, max_stream_duration: { max_stream_duration: { seconds: 5 } } } }],
      },
    ],
  };
}

export function clusterMessage(name: string, options: ClusterOptions = {}): Record<string, unknown> {
  return {
    name,
    type: 'EDS',
    lb_policy: options.lbPolicy ?? 'ROUND_ROBIN',
    connect_timeout: { seconds: options.connectTimeoutSeconds ?? 1 },
    eds_cluster_config: { eds_config: { ads: {} }, service_name: options.serviceName ?? name },
    ...(options.tlsPeerSan
      ? {
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': UPSTREAM_TLS_TYPE,
              common_tls_context: {
                tls_certificate_provider_instance: { instance_name: 'default' },
                validation_context: {
                  ca_certificate_provider_instance: { instance_name: 'default' },
                  match_subject_alt_names: [{ exact: options.tlsPeerSan }],
                },
              },
            },
          },
        }
      : {}),
  };
}

export function claMessage(clusterName: string, endpoints: readonly EndpointInit[], options: ClaOptions = {}): Record<string, unknown> {
  if (endpoints.length === 0) return { cluster_name: clusterName, endpoints: [] };
  const locality = options.omitLocality ? {} : { locality: { region: options.region ?? 'r1', zone: options.zone ?? 'z1' } };
  const padding = options.paddingBytes ? { metadata: { filter_metadata: { pad: { p: 'x'.repeat(options.paddingBytes) } } } } : {};
  return {
    cluster_name: clusterName,
    endpoints: [
      {
        ...locality,
        load_balancing_weight: { value: 1 },
        priority: 0,
        lb_endpoints: endpoints.map((e) => ({
          health_status: 'HEALTHY',
          endpoint: { address: { socket_address: { address: e.address, port_value: e.port } } },
          ...padding,
        })),
      },
    ],
  };
}

export interface ServerListenerOptions {
  /** Add `use_original_dst`, which gRPC servers NACK. */
  useOriginalDst?: boolean;
  statPrefix?: string;
  /** Require mTLS with the `default` certificate provider. */
  mtls?: boolean;
  /** RBAC (before the router): allow only these authenticated principals (URI SANs). */
  allowPrincipals?: string[];
}

/**
 * The Listener an xDS-enabled gRPC server asks for: one filter chain without
 * `filter_chain_match`, a non-forwarding route and the router filter last.
 */
export function serverListenerMessage(name: string, ip: string, port: number, options: ServerListenerOptions = {}): Record<string, unknown> {
  const rbac = options.allowPrincipals
    ? [
        {
          name: 'envoy.filters.http.rbac',
          typed_config: {
            '@type': RBAC_TYPE,
            rules: {
              action: 'ALLOW',
              policies: {
                allowed: {
                  permissions: [{ any: true }],
                  principals: options.allowPrincipals.map((p) => ({ authenticated: { principal_name: { exact: p } } })),
                },
              },
            },
          },
        },
      ]
    : [];
  const tls = options.mtls
    ? {
        transport_socket: {
          name: 'envoy.transport_sockets.tls',
          typed_config: {
            '@type': DOWNSTREAM_TLS_TYPE,
            require_client_certificate: true,
            common_tls_context: {
              tls_certificate_provider_instance: { instance_name: 'default' },
              validation_context: { ca_certificate_provider_instance: { instance_name: 'default' } },
            },
          },
        },
      }
    : {};
  return {
    name,
    address: { socket_address: { address: ip, port_value: port } },
    ...(options.useOriginalDst ? { use_original_dst: true } : {}),
    filter_chains: [
      {
        name: options.mtls ? 'mtls' : 'plain',
        filters: [
          {
            name: 'hcm',
            typed_config: {
              '@type': HCM_TYPE,
              stat_prefix: options.statPrefix ?? 'in',
              route_config: { name: 'inbound', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] }] },
              http_filters: [...rbac, { name: 'router', typed_config: { '@type': ROUTER_TYPE } }],
            },
          },
        ],
        ...tls,
      },
    ],
  };
}

export function secretMessage(name: string, marker = 'v1'): Record<string, unknown> {
  return {
    name,
    validation_context: { trusted_ca: { inline_string: `-----BEGIN CERTIFICATE-----\n${marker}\n-----END CERTIFICATE-----\n` } },
  };
}

/** Encodes resources of each kind with one encoder. */
export class ResourceFactory {
  constructor(private readonly encoder: ResourceEncoder) {}

  listener(name: string, routeConfigName = `${name}-route`): EncodedResource {
    return this.encoder.encode(TypeUrl.Listener, name, listenerMessage(name, routeConfigName));
  }

  route(name: string, clusterName = 'cluster', domains?: string[]): EncodedResource {
    return this.encoder.encode(TypeUrl.RouteConfiguration, name, routeMessage(name, clusterName, domains));
  }

  cluster(name: string, options?: ClusterOptions): EncodedResource {
    return this.encoder.encode(TypeUrl.Cluster, name, clusterMessage(name, options));
  }

  /** A ClusterLoadAssignment; by default one endpoint on 127.0.0.1 with the given port. */
  cla(clusterName: string, endpoints: readonly EndpointInit[] | number = 9000, options?: ClaOptions): EncodedResource {
    const list = typeof endpoints === 'number' ? [{ address: '127.0.0.1', port: endpoints }] : endpoints;
    return this.encoder.encode(TypeUrl.ClusterLoadAssignment, clusterName, claMessage(clusterName, list, options));
  }

  secret(name: string, marker?: string): EncodedResource {
    return this.encoder.encode(TypeUrl.Secret, name, secretMessage(name, marker));
  }

  /** Any message, for resources the factories above do not cover. */
  raw(typeUrl: string, name: string, message: Readonly<Record<string, unknown>>): EncodedResource {
    return this.encoder.encode(typeUrl, name, message);
  }
}
