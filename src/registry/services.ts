import { PROTOCOLS, serviceKey, type Protocol, type Service, type Workload } from '../core/workload.js';

/**
 * One service from its workloads (all of the same namespace/name). Ports are the distinct
 * application ports, ascending. Protocol: the one most workloads declare (ties go to the earlier
 * entry of PROTOCOLS), so a half-rolled-out protocol change resolves predictably.
 */
export function deriveService(name: string, namespace: string, workloads: Iterable<Workload>): Service {
  const ports = new Set<number>();
  const votes = new Map<Protocol, number>();
  for (const w of workloads) {
    ports.add(w.port);
    votes.set(w.protocol, (votes.get(w.protocol) ?? 0) + 1);
  }
  let protocol: Protocol = 'http';
  let best = -1;
  for (const candidate of PROTOCOLS) {
    const count = votes.get(candidate) ?? 0;
    if (count > best) {
      best = count;
      protocol = candidate;
    }
  }
  return { name, namespace, protocol, ports: [...ports].sort((a, b) => a - b) };
}

/** Services derived from workloads, keyed by `namespace/name` in key order. */
export function deriveServices(workloads: Iterable<Workload>): Map<string, Service> {
  const groups = new Map<string, Workload[]>();
  for (const w of workloads) {
    const key = serviceKey(w.namespace, w.service);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [w]);
    else group.push(w);
  }
  const services = new Map<string, Service>();
  for (const key of [...groups.keys()].sort()) {
    const group = groups.get(key)!;
    const first = group[0]!;
    services.set(key, deriveService(first.service, first.namespace, group));
  }
  return services;
}
