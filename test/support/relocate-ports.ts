/**
 * Golden scenarios use fixed, well-known ports (15006, 9001, 5432 …) that may be taken on a test
 * machine (a local Postgres holds 5432). Before real Envoys bind them, every port a scenario
 * names is moved to a free one by one order-preserving mapping, applied alike to the scenario
 * (what Accord translates) and to the golden resources (what Envoy must then hold): `port_value`
 * numbers and the port in names such as `inbound|15006`, `outbound_9001` or `inbound_15432_deny`.
 */
import { createServer } from 'node:net';
import type { Workload } from '../../src/core/workload.js';
import type { Scenario } from '../mesh/support/scenario.js';

/** Below Linux's ephemeral range, so outgoing connections never hold them. */
const PORT_RANGE = { low: 20_000, high: 32_000 } as const;

export type PortMap = ReadonlyMap<number, number>;

/** Every port the scenario's workloads and policies name. */
export function scenarioPorts(scenario: Scenario): number[] {
  const ports = new Set<number>();
  for (const workload of scenario.input.workloads.values()) {
    ports.add(workload.port);
    ports.add(workload.meshPort);
    for (const upstream of workload.upstreams) ports.add(upstream.localPort);
  }
  for (const policy of scenario.input.policies.upstreamPolicies) for (const upstream of policy.spec.upstreams) ports.add(upstream.localPort);
  for (const gateway of scenario.input.policies.gateways) for (const listener of gateway.spec.listeners) ports.add(listener.port);
  return [...ports].sort((a, b) => a - b);
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** `count` distinct ports that can be bound on every address now, ascending. */
export async function freeListenPorts(count: number): Promise<number[]> {
  const chosen = new Set<number>();
  for (let attempt = 0; chosen.size < count; attempt++) {
    if (attempt > 10_000) throw new Error(`found only ${chosen.size} of ${count} free ports in ${PORT_RANGE.low}-${PORT_RANGE.high}`);
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low));
    if (!chosen.has(port) && (await bindable(port))) chosen.add(port);
  }
  return [...chosen].sort((a, b) => a - b);
}

/** An order-preserving map from the scenario's ports to free ones (order matters: resources sort by port). */
export async function relocationFor(scenario: Scenario): Promise<PortMap> {
  const from = scenarioPorts(scenario);
  const to = await freeListenPorts(from.length);
  return new Map(from.map((port, i) => [port, to[i]]));
}

function moved(map: PortMap, port: number): number {
  const to = map.get(port);
  if (to === undefined) throw new Error(`port ${port} is not in the relocation map`);
  return to;
}

export function relocateScenario(scenario: Scenario, map: PortMap): Scenario {
  const workloads = new Map<string, Workload>();
  for (const [id, w] of scenario.input.workloads) {
    workloads.set(id, {
      ...w,
      port: moved(map, w.port),
      meshPort: moved(map, w.meshPort),
      upstreams: w.upstreams.map((u) => ({ ...u, localPort: moved(map, u.localPort) })),
    });
  }
  const policies = scenario.input.policies;
  return {
    ...scenario,
    input: {
      ...scenario.input,
      workloads,
      policies: {
        ...policies,
        gateways: policies.gateways.map((g) => ({
          ...g,
          spec: { ...g.spec, listeners: g.spec.listeners.map((l) => ({ ...l, port: moved(map, l.port) })) },
        })),
        httpRoutes: policies.httpRoutes.map((r) => ({
          ...r,
          spec: { ...r.spec, parentRefs: r.spec.parentRefs.map((ref) => (ref.port === undefined ? ref : { ...ref, port: moved(map, ref.port) })) },
        })),
        upstreamPolicies: policies.upstreamPolicies.map((p) => ({
          ...p,
          spec: { ...p.spec, upstreams: p.spec.upstreams.map((u) => ({ ...u, localPort: moved(map, u.localPort) })) },
        })),
      },
    },
  };
}

/** A port in a name: a digit run after `|`, `_` or `:` that ends the name or is followed by `|` or `_`. */
const PORT_IN_NAME = /(?<=[|_:])(\d+)(?=$|[|_])/g;

function relocateName(name: string, map: PortMap): string {
  return name.replace(PORT_IN_NAME, (digits) => String(map.get(Number(digits)) ?? digits));
}

/** The golden resources as they read once the scenario's ports have moved. */
export function relocateResources<T>(value: T, map: PortMap): T {
  const walk = (node: unknown, key: string | undefined): unknown => {
    if (Array.isArray(node)) return node.map((item) => walk(item, undefined));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [relocateName(k, map), walk(v, k)]));
    }
    if (key === 'port_value' && typeof node === 'number') return map.get(node) ?? node;
    if (typeof node === 'string') return relocateName(node, map);
    return node;
  };
  return walk(value, undefined) as T;
}
