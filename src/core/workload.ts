/**
 * Registry domain types shared by the registry, the mesh translator, the CA and the API.
 * Plain immutable data: no behaviour, no I/O.
 */

export type Protocol = 'http' | 'http2' | 'grpc' | 'tcp';
export const PROTOCOLS: readonly Protocol[] = ['http', 'http2', 'grpc', 'tcp'];

export type HealthStatus = 'HEALTHY' | 'UNHEALTHY' | 'DRAINING' | 'UNKNOWN';

export interface Locality {
  readonly region?: string;
  readonly zone?: string;
  readonly subZone?: string;
}

/** A service a workload calls, reachable from the app on 127.0.0.1:<localPort>. */
export interface Upstream {
  readonly service: string;
  readonly namespace: string;
  readonly localPort: number;
}

export interface Workload {
  /** Stable id; also Envoy's `node.id`. */
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly serviceAccount: string;
  /** IP literal or hostname where the workload (or its sidecar) is reached. */
  readonly address: string;
  /** Where the application itself listens. */
  readonly port: number;
  /** The sidecar's inbound port; equals `port` for proxyless workloads. */
  readonly meshPort: number;
  readonly protocol: Protocol;
  readonly labels: Readonly<Record<string, string>>;
  readonly locality: Locality;
  readonly health: HealthStatus;
  readonly upstreams: readonly Upstream[];
  /** Lease length in milliseconds; absent means the workload never expires. */
  readonly leaseMs?: number;
  /**
   * Present when the workload is an ingress gateway: its Envoy serves the `Gateway` document with
   * its service name and namespace instead of an inbound listener (docs/configuration.md).
   */
  readonly gateway?: GatewayRole;
}

export interface GatewayRole {
  /** Absolute directory on the gateway's host holding `<namespace>/<name>/tls.crt` and `tls.key` per certificate. */
  readonly certificateDirectory: string;
}

export const DEFAULT_GATEWAY_CERTIFICATE_DIRECTORY = '/etc/accord/gateway-certs';

export interface Service {
  readonly name: string;
  readonly namespace: string;
  readonly protocol: Protocol;
  readonly ports: readonly number[];
}

/** `namespace/name`, the key under which services are stored and referenced. */
export function serviceKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function spiffeId(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}
