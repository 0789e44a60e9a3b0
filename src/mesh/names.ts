/**
 * Every resource name the mesh translator emits, in one place. Names are part of the contract with
 * proxies (an RDS name must match its listener's `rds.route_config_name`, an EDS name its cluster's
 * `service_name`) and with operators reading config dumps, so they are never spelled elsewhere.
 *
 * Service, namespace and subset names are DNS labels (no dots), which keeps the dotted forms
 * below unambiguous and lets a cluster name double as the TLS SNI.
 */

export const SDS_CERTIFICATE_NAME = 'default';
export const SDS_ROOT_CA_NAME = 'ROOTCA';
/** The grpc bootstrap's certificate provider instance (written by `accord agent`). */
export const CERTIFICATE_PROVIDER_INSTANCE = 'default';

export const FilterName = {
  httpConnectionManager: 'envoy.filters.network.http_connection_manager',
  tcpProxy: 'envoy.filters.network.tcp_proxy',
  networkRbacDeny: 'accord.network_rbac.deny',
  networkRbacAllow: 'accord.network_rbac.allow',
  httpRbacDeny: 'accord.rbac.deny',
  httpRbacAllow: 'accord.rbac.allow',
  router: 'envoy.filters.http.router',
  tlsInspector: 'envoy.filters.listener.tls_inspector',
  tlsTransportSocket: 'envoy.transport_sockets.tls',
} as const;

export const FilterChainName = {
  /** Envoy inbound chain terminating mTLS. */
  mtls: 'mtls',
  /** Envoy inbound chain for plaintext callers (PERMISSIVE only). */
  plaintext: 'plaintext',
  /** The proxyless server's only chain. */
  proxylessInbound: 'inbound',
} as const;

/** Virtual host of inbound route configurations, and the name of the one route in every route table. */
export const INBOUND_VIRTUAL_HOST = 'inbound';
export const DEFAULT_ROUTE = 'default';

export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

/** Envoy inbound listener, bound on 0.0.0.0:<meshPort>. */
export function inboundListenerName(meshPort: number): string {
  return `inbound|${meshPort}`;
}

/** The STATIC cluster to the local application. */
export function inboundClusterName(port: number): string {
  return `inbound|${port}`;
}

/** The inbound listener's inline route configuration. */
export function inboundRouteName(port: number): string {
  return `inbound|${port}`;
}

/** Envoy outbound listener, bound on 127.0.0.1:<localPort>. */
export function outboundListenerName(localPort: number): string {
  return `outbound|${localPort}`;
}

/** Outbound RDS route configuration of a destination service (shared by every caller). */
export function outboundRouteName(service: string, namespace: string): string {
  return `${service}.${namespace}`;
}

/** EDS cluster of a destination service, or of one subset of it. Also its SNI and EDS name. */
export function outboundClusterName(service: string, namespace: string, subset?: string): string {
  return subset === undefined ? `outbound.${service}.${namespace}` : `outbound.${subset}.${service}.${namespace}`;
}

export function statPrefix(direction: 'inbound' | 'outbound', port: number): string {
  return `${direction}_${port}`;
}

/**
 * Listener names a proxyless client subscribes to: `xds:///<service>` asks for `<service>`
 * (own namespace only), `xds:///<service>.<namespace>` for `<service>.<namespace>`.
 */
export function grpcClientListenerNames(service: string, namespace: string, callerNamespace: string): string[] {
  const qualified = `${service}.${namespace}`;
  return namespace === callerNamespace ? [service, qualified] : [qualified];
}

/** `host:port` as grpc-js passes it to the listener name template (IPv6 in brackets). */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

export const GRPC_SERVER_LISTENER_PREFIX = 'grpc/server?xds.resource.listening_address=';

export function grpcServerListenerName(address: string, port: number): string {
  return `${GRPC_SERVER_LISTENER_PREFIX}${hostPort(address, port)}`;
}

/** Stat prefix of a network RBAC filter (one per action). */
export function rbacStatPrefix(listenerStatPrefix: string, action: 'ALLOW' | 'DENY'): string {
  return `${listenerStatPrefix}_${action.toLowerCase()}`;
}

/** Name of the RBAC policy generated from one rule of an AuthorizationPolicy. */
export function rbacPolicyName(namespace: string, policy: string, ruleIndex: number): string {
  return `${namespace}/${policy}/rule-${ruleIndex}`;
}
