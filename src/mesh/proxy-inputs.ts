import type { Upstream, Workload } from '../core/workload.js';
import { maxConnectionDurationMs } from './connection-lifetime.js';
import type { MeshIndex, NamedAuthorizationPolicy, ServiceView } from './model.js';
import type { Flavour } from './types.js';

/**
 * Exactly the inputs `assembleProxy` reads for one proxy, split by how often they change, so a key
 * can be composed from parts hashed once each instead of hashing the whole proxy on every change:
 *
 * - the *shape* (`proxyShape`): the workload's own fields, the mesh settings and its upstream list;
 *   it changes only with the workload object or the PolicySet's mesh and UpstreamPolicies;
 * - the *inbound* side (`inboundInputs`): the AuthorizationPolicies of its service and the service
 *   accounts of the callers they name;
 * - per upstream, the hash of its destination's shared pieces (service-pieces.ts).
 *
 * Deliberately leaves out the workload id (and, for Envoy, its address): replicas of one service
 * get equal inputs and so share one generation. Gateways read their Gateway document and routes
 * too (`gatewayInputs`).
 */
export interface ProxyShape {
  /**
   * Plain value to hash, built in the same key order every time: it is hashed as plain JSON, so
   * equal inputs must serialise to equal text.
   */
  readonly value: unknown;
  /** The destinations whose pieces the proxy reads, in the order their hashes enter the key. */
  readonly upstreams: readonly Upstream[];
}

export function proxyShape(index: MeshIndex, workload: Workload, flavour: Flavour): ProxyShape {
  const mesh = index.input.policies.mesh;
  const all = index.upstreamsOf(workload);
  // grpc clients dial by name; the local port means nothing to them.
  const upstreams = flavour === 'grpc' ? uniqueBy(all, (u) => `${u.namespace}/${u.service}`) : all;
  return {
    upstreams,
    value: {
      flavour,
      workload: {
        service: workload.service,
        namespace: workload.namespace,
        port: workload.port,
        meshPort: workload.meshPort,
        protocol: workload.protocol,
        ...(flavour === 'grpc' ? { address: workload.address } : {}),
        ...(workload.gateway !== undefined ? { gateway: workload.gateway, address: workload.address } : {}),
      },
      mesh: {
        trustDomain: mesh.trustDomain,
        mtls: mesh.mtls,
        ...(flavour === 'envoy' ? { maxConnectionDurationMs: maxConnectionDurationMs(mesh) } : {}),
      },
      upstreams: upstreams.map((u) => (flavour === 'envoy' ? [u.namespace, u.service, u.localPort] : [u.namespace, u.service])),
    },
  };
}

/** The authorization side of a proxy: the same for every workload of a service. */
export function inboundInputs(index: MeshIndex, namespace: string, service: string): { readonly policies: readonly NamedAuthorizationPolicy[]; readonly callerAccounts: Record<string, readonly string[]> } {
  const policies = index.authorizationPolicies(namespace, service);
  return { policies, callerAccounts: callerServiceAccounts(policies, index) };
}

/** What an Envoy ingress gateway reads beyond its shape: its Gateway document, routes and their backends' pieces. */
export function gatewayInputs(index: MeshIndex, workload: Workload, serviceHashOf: (service: ServiceView) => string): unknown {
  const gateway = index.gatewayOf(workload);
  const routes = gateway === undefined ? [] : index.routesOf(gateway);
  return {
    document: gateway ?? null,
    routes,
    backends: routes.flatMap((route) =>
      route.spec.rules.flatMap((rule) =>
        rule.backendRefs.map((ref) => {
          const service = index.service(ref.namespace, ref.name);
          return { key: `${ref.namespace}/${ref.name}`, pieces: service.workloads.length === 0 ? null : serviceHashOf(service) };
        }),
      ),
    ),
  };
}

/** Service accounts of every service named as a caller: RBAC principals depend on them. */
function callerServiceAccounts(policies: readonly NamedAuthorizationPolicy[], index: MeshIndex): Record<string, readonly string[]> {
  const accounts: Record<string, readonly string[]> = {};
  for (const policy of policies) {
    for (const rule of policy.spec.rules) {
      for (const caller of rule.from ?? []) {
        if (!('service' in caller)) continue;
        const namespace = caller.namespace ?? policy.metadata.namespace;
        accounts[`${namespace}/${caller.service}`] = index.service(namespace, caller.service).serviceAccounts;
      }
    }
  }
  return accounts;
}

function uniqueBy<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(keyOf(item))) seen.set(keyOf(item), item);
  return [...seen.values()];
}
