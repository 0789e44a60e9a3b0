import { voteProtocol } from '../core/protocol.js';
import { serviceKey, type Service, type Workload } from '../core/workload.js';

/**
 * One service from its workloads (all of the same namespace/name). Ports are the distinct
 * application ports, ascending; the protocol by `voteProtocol`, so a half-rolled-out protocol
 * change resolves predictably and as the translator sees it.
 */
export function deriveService(name: string, namespace: string, workloads: Iterable<Workload>): Service {
  const list = [...workloads];
  const ports = new Set(list.map((w) => w.port));
  return { name, namespace, protocol: voteProtocol(list).protocol, ports: [...ports].sort((a, b) => a - b) };
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
