import { deepFreeze } from '../core/deep-freeze.js';
import type { CallerConnectionLimits } from './connection-lifetime.js';
import { isHttpProtocol } from './configurers/http.js';
import { routeTrafficFields, type Configured } from './configurers/traffic.js';
import { clusterLoadAssignment } from './endpoints.js';
import { outboundCluster } from './envoy/clusters.js';
import { outboundRouteConfig } from './envoy/routes.js';
import { clientCluster } from './grpc/clusters.js';
import { clientRouteConfig } from './grpc/routes.js';
import type { LocalityPlan } from './locality.js';
import type { ServiceView } from './model.js';
import { outboundRouteName } from './names.js';
import { clusterTargets, type ClusterTarget } from './subsets.js';
import type { Flavour, Resource, TranslationNote } from './types.js';

/**
 * What every caller of one destination service receives: the same for all proxies of a flavour
 * with the same locality plan (locality.ts), so it is built once and shared by identity.
 */
export interface ServicePieces {
  readonly targets: readonly ClusterTarget[];
  /** HTTP services only. */
  readonly routeConfig: Resource | undefined;
  /** The retry policy of Envoy routes to the service (HTTP services, Envoy flavour), for the gateway's routes too. */
  readonly retryPolicy: Resource | undefined;
  readonly clusters: ReadonlyMap<string, Resource>;
  readonly loadAssignments: ReadonlyMap<string, Resource>;
  readonly notes: readonly TranslationNote[];
}

/**
 * What `buildServicePieces` reads apart from the endpoints: clusters, routes (and callers'
 * listeners) depend on this only, so callers whose destinations changed only here keep them.
 */
export function serviceStructureInputs(service: ServiceView, flavour: Flavour, trustDomain: string, plan: LocalityPlan, limits: CallerConnectionLimits): unknown {
  return {
    flavour,
    plan,
    trustDomain,
    limits: flavour === 'envoy' ? limits : null,
    name: service.name,
    namespace: service.namespace,
    protocol: service.protocol,
    mixedProtocols: service.mixedProtocols,
    serviceAccounts: service.serviceAccounts,
    trafficPolicy: service.trafficPolicy ?? null,
  };
}

/** The rest of what `buildServicePieces` reads: the endpoints its CLAs are made of. */
export function serviceEndpointInputs(service: ServiceView): unknown {
  return service.workloads.map((w) => ({
    id: w.id,
    address: w.address,
    meshPort: w.meshPort,
    labels: w.labels,
    locality: w.locality,
    health: w.health,
  }));
}

export function buildServicePieces(
  service: ServiceView,
  flavour: Flavour,
  trustDomain: string,
  plan: LocalityPlan,
  limits: CallerConnectionLimits,
): ServicePieces {
  const notes: TranslationNote[] = [];
  const take = (configured: Configured<Record<string, unknown>>): Resource => {
    notes.push(...configured.notes);
    return configured.value;
  };
  const targets = clusterTargets(service);
  const routeConfig = isHttpProtocol(service.protocol)
    ? take(flavour === 'envoy' ? outboundRouteConfig(service, targets, plan) : clientRouteConfig(service, targets, plan))
    : undefined;
  const retryPolicy =
    flavour === 'envoy' && isHttpProtocol(service.protocol)
      ? (routeTrafficFields(service.trafficPolicy, 'envoy', outboundRouteName(service.name, service.namespace), plan).value.retry_policy as Resource | undefined)
      : undefined;
  const clusters = new Map<string, Resource>();
  const loadAssignments = new Map<string, Resource>();
  for (const target of targets) {
    clusters.set(
      target.clusterName,
      take(flavour === 'envoy' ? outboundCluster(service, target, trustDomain, plan, limits) : clientCluster(service, target, trustDomain, plan)),
    );
    loadAssignments.set(target.clusterName, take(clusterLoadAssignment(target, service.workloads, plan)));
  }
  if (service.mixedProtocols) {
    notes.push({
      code: 'MIXED_PROTOCOLS',
      message: `${service.name}.${service.namespace}: workloads registered with different protocols; using ${service.protocol}`,
    });
  }
  return deepFreeze({ targets, routeConfig, retryPolicy, clusters, loadAssignments, notes });
}
