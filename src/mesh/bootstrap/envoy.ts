import { stringify } from 'yaml';
import type { Workload } from '../../core/workload.js';
import { parseHostPort } from './address.js';
import { bootstrapNode } from './node.js';

/** The static cluster through which Envoy reaches Accord's xDS server. */
export const XDS_CLUSTER_NAME = 'accord-xds';
export const ENVOY_ADMIN_ADDRESS = '127.0.0.1';
export const ENVOY_ADMIN_PORT = 15000;

const HTTP_PROTOCOL_OPTIONS_TYPE = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';
const UPSTREAM_TLS_CONTEXT_TYPE = 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';
const typeUrl = (name: string): string => `type.googleapis.com/${name}`;

export interface EnvoyBootstrapInput {
  readonly workload: Workload;
  /** The workload token from registration; sent as `authorization: Bearer` on the ADS stream. */
  readonly token: string;
  /** Control-plane replicas, `host:port` or `[ipv6]:port`; Envoy balances and fails over between them. */
  readonly xdsAddresses: readonly string[];
  /** The mesh CA bundle (PEM file) the xDS server's certificate must chain to. */
  readonly caBundlePath: string;
  /** If given, the xDS server's certificate must carry this URI SAN. */
  readonly xdsServerSpiffeId?: string;
  /** Connect to the xDS port over TLS. */
  readonly tls: boolean;
  /** Use incremental (delta) xDS instead of state-of-the-world. */
  readonly delta: boolean;
}

/**
 * The Envoy bootstrap for a sidecar: its node identity, ADS over gRPC to Accord (listeners and
 * clusters, and through them everything else), a static cluster for the control plane and a
 * local admin interface. Returned as a plain object in proto-JSON form (snake_case).
 */
export function envoyBootstrap(input: EnvoyBootstrapInput): Record<string, unknown> {
  // The token becomes a gRPC header value: refuse what would break or split the header.
  if (!/^[\x21-\x7e]+$/.test(input.token)) throw new Error('the workload token must be non-empty printable ASCII without spaces');
  if (input.tls && input.caBundlePath === '') throw new Error('a CA bundle path is required to verify the xDS server over TLS');
  const configSource = { ads: {}, resource_api_version: 'V3' };
  return {
    node: bootstrapNode(input.workload),
    dynamic_resources: {
      ads_config: {
        api_type: input.delta ? 'DELTA_GRPC' : 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [
          {
            envoy_grpc: { cluster_name: XDS_CLUSTER_NAME },
            initial_metadata: [{ key: 'authorization', value: `Bearer ${input.token}` }],
          },
        ],
      },
      cds_config: configSource,
      lds_config: configSource,
    },
    static_resources: { clusters: [xdsCluster(input)] },
    admin: { address: { socket_address: { address: ENVOY_ADMIN_ADDRESS, port_value: ENVOY_ADMIN_PORT } } },
  };
}

/** The same bootstrap as YAML, as `accord bootstrap --format envoy` prints it. */
export function envoyBootstrapYaml(input: EnvoyBootstrapInput): string {
  // Shared sub-objects are written out in full: no YAML anchors and aliases for readers to chase.
  return stringify(envoyBootstrap(input), { lineWidth: 0, aliasDuplicateObjects: false });
}

function xdsCluster(input: EnvoyBootstrapInput): Record<string, unknown> {
  if (input.xdsAddresses.length === 0) throw new Error('at least one xDS server address is required');
  const endpoints = input.xdsAddresses.map(parseHostPort);
  const byName = endpoints.some((endpoint) => !endpoint.isIp);
  const cluster: Record<string, unknown> = {
    name: XDS_CLUSTER_NAME,
    // STATIC needs IP literals; STRICT_DNS resolves names and keeps every address it finds.
    type: byName ? 'STRICT_DNS' : 'STATIC',
    // Envoy's default (AUTO) takes a name's IPv6 address whenever it has one, even where the
    // control plane listens on IPv4 only (Envoy resolves localhost to ::1): prefer IPv4, and use
    // IPv6 for names that have no IPv4 address.
    ...(byName ? { dns_lookup_family: 'V4_PREFERRED' } : {}),
    connect_timeout: '1s',
    // The ADS stream is long-lived; keepalives notice a dead control plane behind a silent network.
    upstream_connection_options: { tcp_keepalive: {} },
    typed_extension_protocol_options: {
      [HTTP_PROTOCOL_OPTIONS_TYPE]: {
        '@type': typeUrl(HTTP_PROTOCOL_OPTIONS_TYPE),
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    load_assignment: {
      cluster_name: XDS_CLUSTER_NAME,
      endpoints: [
        {
          lb_endpoints: endpoints.map(({ host, port }) => ({
            endpoint: { address: { socket_address: { address: host, port_value: port } } },
          })),
        },
      ],
    },
  };
  if (input.tls) cluster.transport_socket = xdsTlsTransportSocket(input, endpoints.filter((e) => !e.isIp).map((e) => e.host));
  return cluster;
}

function xdsTlsTransportSocket(input: EnvoyBootstrapInput, hostnames: readonly string[]): Record<string, unknown> {
  const validationContext: Record<string, unknown> = { trusted_ca: { filename: input.caBundlePath } };
  if (input.xdsServerSpiffeId !== undefined) {
    validationContext.match_typed_subject_alt_names = [{ san_type: 'URI', matcher: { exact: input.xdsServerSpiffeId } }];
  }
  const tlsContext: Record<string, unknown> = {
    '@type': typeUrl(UPSTREAM_TLS_CONTEXT_TYPE),
    common_tls_context: { alpn_protocols: ['h2'], validation_context: validationContext },
  };
  // One control-plane name is sent as SNI; with several names there is no single right one.
  const distinctNames = [...new Set(hostnames)];
  if (distinctNames.length === 1) tlsContext.sni = distinctNames[0];
  return { name: 'envoy.transport_sockets.tls', typed_config: tlsContext };
}
