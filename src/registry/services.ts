import { PROTOCOLS, serviceKey, type Protocol, type Service, type Workload } from '../core/workload.js';

/**
 * Derives services from workloads, keyed by `namespace/name`. Ports are the distinct application
 * ports of the service's workloads, ascending. Protocol: the one most workloads declare (ties go
 * to the earlier entry of PROTOCOLS) so a half-rolled-out protocol change resolves predictably.
 */
export function deriveServices(workloads: Iterable<Workload>): Map<string, Service> {
  const groups = new Map<string, { name: string; namespace: string; ports: Set<number>; votes: Map<Protocol, number> }>();
  for (const w of workloads) {
    const key = serviceKey(w.namespace, w.service);
    let group = groups.get(key);
    if (group === undefined) {
      group = { name: w.service, namespace: w.namespace, ports: new Set(), votes: new Map() };
      groups.set(key, group);
    }
    group.ports.add(w.port);
    group.votes.set(w.protocol, (group.votes.get(w.protocol) ?? 0) + 1);
  }
  const services = new Map<string, Service>();
  for (const key of [...groups.keys()].sort()) {
    const group = groups.get(key)!;
    let protocol: Protocol = 'http';
    let best = -1;
    for (const candidate of PROTOCOLS) {
      const votes = group.votes.get(candidate) ?? 0;
      if (votes > best) {
        best = votes;
        protocol = candidate;
      }
    }
    services.set(key, {
      name: group.name,
      namespace: group.namespace,
      protocol,
      ports: [...group.ports].sort((a, b) => a - b),
    });
  }
  return services;
}
