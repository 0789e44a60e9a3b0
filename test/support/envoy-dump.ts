/**
 * Envoy's `/config_dump?include_eds` read into what tests ask about: per xDS type, the dynamic
 * resources Envoy is using (with the version it accepted), those still warming, listeners in
 * error (the last NACK), and the static parts from the bootstrap.
 */
import type { ConfigDump, ConfigDumpSection } from '../../src/envoy/index.js';
import { TypeUrl } from '../../src/xds/contract.js';

const DUMP = 'type.googleapis.com/envoy.admin.v3.';

export interface DumpedResource {
  readonly name: string;
  /** The version Envoy accepted: the response's version_info (SotW) or the resource's version (Delta). */
  readonly version: string;
  /** The resource as Envoy prints it (proto3 JSON, proto field names). */
  readonly resource: Record<string, unknown>;
}

export interface DumpView {
  readonly bootstrap: Record<string, unknown>;
  /** Type URL → name → resource, for the dynamic (xDS) resources Envoy has active. */
  readonly active: ReadonlyMap<string, ReadonlyMap<string, DumpedResource>>;
  readonly warmingListeners: readonly string[];
  readonly drainingListeners: readonly string[];
  /** Listeners whose last update failed, with Envoy's reason. */
  readonly listenerErrors: readonly { readonly name: string; readonly details: string }[];
  readonly warmingClusters: readonly string[];
  readonly warmingSecrets: readonly string[];
  readonly staticClusters: readonly string[];
}

type Entry = Record<string, unknown>;

function section(dump: ConfigDump, kind: string): ConfigDumpSection | undefined {
  return dump.configs.find((config) => config['@type'] === `${DUMP}${kind}`);
}

function list(value: unknown): Entry[] {
  return Array.isArray(value) ? (value as Entry[]) : [];
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** A field of a dump entry; resources are Any-typed there, so their `@type` is dropped. */
function resourceOf(entry: Entry, key: string): Record<string, unknown> {
  const resource = entry[key];
  if (resource === null || typeof resource !== 'object') return {};
  const { '@type': _type, ...fields } = resource as Record<string, unknown>;
  return fields;
}

function byName(entries: readonly DumpedResource[]): Map<string, DumpedResource> {
  return new Map(entries.map((entry) => [entry.name, entry]));
}

export function readDump(dump: ConfigDump): DumpView {
  const listeners = section(dump, 'ListenersConfigDump');
  const clusters = section(dump, 'ClustersConfigDump');
  const routes = section(dump, 'RoutesConfigDump');
  const endpoints = section(dump, 'EndpointsConfigDump');
  const secrets = section(dump, 'SecretsConfigDump');
  const dynamicListeners = list(listeners?.dynamic_listeners);

  const activeListeners = dynamicListeners
    .filter((entry) => entry.active_state)
    .map((entry) => {
      const state = resourceOf(entry, 'active_state');
      return { name: text(entry.name), version: text(state.version_info), resource: resourceOf(state, 'listener') };
    });
  const activeClusters = list(clusters?.dynamic_active_clusters).map((entry) => {
    const cluster = resourceOf(entry, 'cluster');
    return { name: text(cluster.name), version: text(entry.version_info), resource: cluster };
  });
  const activeRoutes = list(routes?.dynamic_route_configs).map((entry) => {
    const route = resourceOf(entry, 'route_config');
    return { name: text(route.name), version: text(entry.version_info), resource: route };
  });
  const activeEndpoints = list(endpoints?.dynamic_endpoint_configs).map((entry) => {
    const cla = resourceOf(entry, 'endpoint_config');
    return { name: text(cla.cluster_name), version: text(entry.version_info), resource: cla };
  });
  const activeSecrets = list(secrets?.dynamic_active_secrets).map((entry) => ({
    name: text(entry.name),
    version: text(entry.version_info),
    resource: resourceOf(entry, 'secret'),
  }));

  return {
    bootstrap: resourceOf(section(dump, 'BootstrapConfigDump') ?? {}, 'bootstrap'),
    active: new Map<string, Map<string, DumpedResource>>([
      [TypeUrl.Listener, byName(activeListeners)],
      [TypeUrl.RouteConfiguration, byName(activeRoutes)],
      [TypeUrl.Cluster, byName(activeClusters)],
      [TypeUrl.ClusterLoadAssignment, byName(activeEndpoints)],
      [TypeUrl.Secret, byName(activeSecrets)],
    ]),
    warmingListeners: dynamicListeners.filter((entry) => entry.warming_state).map((entry) => text(entry.name)),
    drainingListeners: dynamicListeners.filter((entry) => entry.draining_state).map((entry) => text(entry.name)),
    listenerErrors: dynamicListeners
      .filter((entry) => entry.error_state)
      .map((entry) => ({ name: text(entry.name), details: text(resourceOf(entry, 'error_state').details) })),
    warmingClusters: list(clusters?.dynamic_warming_clusters).map((entry) => text(resourceOf(entry, 'cluster').name)),
    warmingSecrets: list(secrets?.dynamic_warming_secrets).map((entry) => text(entry.name)),
    staticClusters: list(clusters?.static_clusters).map((entry) => text(resourceOf(entry, 'cluster').name)),
  };
}

/** Name → version of one type's active resources (what a Delta reconnect must leave unchanged). */
export function versionsOf(view: DumpView, typeUrl: string): Record<string, string> {
  return Object.fromEntries([...(view.active.get(typeUrl) ?? new Map<string, DumpedResource>())].map(([name, r]) => [name, r.version]).sort());
}
