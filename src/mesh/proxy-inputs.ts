import type { Workload } from '../core/workload.js';
import { maxConnectionDurationMs } from './connection-lifetime.js';
import type { MeshIndex, NamedAuthorizationPolicy, ServiceView } from './model.js';
import type { Flavour } from './types.js';

/**
 * Exactly the inputs `assembleProxy` reads for one proxy, as a plain value to hash. Deliberately
 * leaves out the workload id (and, for Envoy, its address): replicas of one service get equal
 * inputs and so share one generation. A destination service is represented by the hash of its
 * shared pieces' inputs (`serviceHashOf`).
 */
export function proxyInputs(index: MeshIndex, workload: Workload, flavour: Flavour, serviceHashOf: (service: ServiceView) => string): unknown {
  const mesh = index.input.policies.mesh;
  const policies = index.authorizationPolicies(workload.namespace, workload.service);
  const upstreams = index.upstreamsOf(workload).map((u) => ({
    service: u.service,
    namespace: u.namespace,
    // grpc clients dial by name; the local port means nothing to them.
    ...(flavour === 'envoy' ? { localPort: u.localPort } : {}),
    pieces: serviceHashOf(index.service(u.namespace, u.service)),
  }));
  const gateway = flavour === 'envoy' && workload.gateway !== undefined ? index.gatewayOf(workload) : undefined;
  const routes = gateway === undefined ? [] : index.routesOf(gateway);
  return {
    flavour,
    ...(workload.gateway !== undefined && {
      gateway: {
        role: workload.gateway,
        address: workload.address,
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
      },
    }),
    workload: {
      service: workload.service,
      namespace: workload.namespace,
      port: workload.port,
      meshPort: workload.meshPort,
      protocol: workload.protocol,
      ...(flavour === 'grpc' ? { address: workload.address } : {}),
    },
    mesh: {
      trustDomain: mesh.trustDomain,
      mtls: mesh.mtls,
      ...(flavour === 'envoy' ? { maxConnectionDurationMs: maxConnectionDurationMs(mesh) } : {}),
    },
    policies,
    callerAccounts: callerServiceAccounts(policies, index),
    upstreams: flavour === 'grpc' ? uniqueBy(upstreams, (u) => `${u.namespace}/${u.service}`) : upstreams,
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
