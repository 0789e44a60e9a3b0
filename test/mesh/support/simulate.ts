/**
 * Follows a call through one proxy's resources the way Envoy or a proxyless client would:
 * listener → (RDS) route → cluster(s) with weights → CLA endpoints. Enough of the path to state
 * tests as "a call on this port reaches these addresses", for the shapes the translator emits.
 */
import { TypeUrl } from '../../../src/xds/contract.js';
import type { ProxyResources, Resource } from '../../../src/mesh/index.js';

type Json = Record<string, unknown>;

export interface Destination {
  readonly cluster: string;
  readonly weight: number;
  readonly endpoints: readonly string[];
  readonly sni?: string;
  readonly san: readonly string[];
}

function get(resources: ProxyResources, typeUrl: string, name: string): Resource {
  const resource = resources.get(typeUrl)?.get(name);
  if (!resource) throw new Error(`no ${typeUrl} named ${name}`);
  return resource;
}

function destinations(resources: ProxyResources, action: Json): Destination[] {
  const weighted = action.weighted_clusters as { clusters: { name: string; weight: number | { value: number } }[] } | undefined;
  const targets = weighted
    ? weighted.clusters.map((c) => ({ name: c.name, weight: typeof c.weight === 'number' ? c.weight : c.weight.value }))
    : [{ name: String(action.cluster), weight: 1 }];
  return targets.map(({ name, weight }) => {
    const cluster = get(resources, TypeUrl.Cluster, name);
    const cla = get(resources, TypeUrl.ClusterLoadAssignment, String((cluster.eds_cluster_config as Json).service_name));
    const endpoints = (cla.endpoints as Json[]).flatMap((locality) =>
      (locality.lb_endpoints as Json[]).map((lb) => {
        const socket = (((lb.endpoint as Json).address as Json).socket_address as Json);
        return `${String(socket.address)}:${String(socket.port_value)}`;
      }),
    );
    const tls = ((cluster.transport_socket as Json).typed_config as Json);
    const common = tls.common_tls_context as Json;
    const san = common.combined_validation_context
      ? (((common.combined_validation_context as Json).default_validation_context as Json).match_typed_subject_alt_names as Json[]).map((m) => String((m.matcher as Json).exact))
      : ((common.validation_context as Json).match_subject_alt_names as Json[]).map((m) => String(m.exact));
    return { cluster: name, weight, endpoints, ...(tls.sni ? { sni: String(tls.sni) } : {}), san };
  });
}

function routeAction(resources: ProxyResources, routeConfigName: string): Json {
  const config = get(resources, TypeUrl.RouteConfiguration, routeConfigName);
  const host = (config.virtual_hosts as Json[])[0];
  return (host.routes as Json[])[0].route as Json;
}

/** Where an Envoy sidecar sends what the app writes to 127.0.0.1:<localPort>. */
export function envoyOutbound(resources: ProxyResources, localPort: number): Destination[] {
  const listener = [...(resources.get(TypeUrl.Listener)?.values() ?? [])].find(
    (l) => ((l.address as Json | undefined)?.socket_address as Json | undefined)?.port_value === localPort && l.traffic_direction === 'OUTBOUND',
  );
  if (!listener) throw new Error(`no outbound listener on ${localPort}`);
  const filter = ((listener.filter_chains as Json[])[0].filters as Json[])[0];
  const typed = filter.typed_config as Json;
  if (typed.rds) return destinations(resources, routeAction(resources, String((typed.rds as Json).route_config_name)));
  return destinations(resources, typed);
}

/** Where a proxyless client sends a call on `xds:///<target>`. */
export function grpcDial(resources: ProxyResources, target: string): Destination[] {
  const listener = get(resources, TypeUrl.Listener, target);
  const hcm = (listener.api_listener as Json).api_listener as Json;
  return destinations(resources, routeAction(resources, String((hcm.rds as Json).route_config_name)));
}
