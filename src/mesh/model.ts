import { voteProtocol } from '../core/protocol.js';
import { serviceKey, type Protocol, type Upstream, type Workload } from '../core/workload.js';
import type { AuthorizationPolicySpec, Metadata, PolicyDocument, PolicySet, TrafficPolicySpec } from '../core/policy.js';
import { canonicalJson, compareStrings } from './hash.js';
import type { MeshInput } from './types.js';

/** A destination service as the translator sees it, derived from the registered workloads. */
export interface ServiceView {
  readonly name: string;
  readonly namespace: string;
  /** The protocol most of its workloads registered with; `http` (the registration default) if none. */
  readonly protocol: Protocol;
  readonly mixedProtocols: boolean;
  /** Every registered workload of the service, whatever its health, sorted by id. */
  readonly workloads: readonly Workload[];
  /** Service accounts of its workloads, sorted; the service name by convention when none registered. */
  readonly serviceAccounts: readonly string[];
  readonly trafficPolicy: TrafficPolicySpec | undefined;
}

export interface NamedAuthorizationPolicy {
  readonly metadata: Metadata;
  readonly spec: AuthorizationPolicySpec;
}

type UpstreamPolicyDocument = PolicyDocument & { kind: 'UpstreamPolicy' };

/**
 * One PolicySet's policies grouped by the service they apply to, built once per set, so a lookup
 * per proxy or per service does not scan every policy of the mesh.
 */
export class PolicyLookup {
  private readonly authorization = new Map<string, NamedAuthorizationPolicy[]>();
  private readonly traffic = new Map<string, TrafficPolicySpec>();
  private readonly upstream = new Map<string, UpstreamPolicyDocument[]>();

  constructor(readonly set: PolicySet) {
    const byName = <T extends { readonly metadata: Metadata }>(a: T, b: T): number => compareStrings(a.metadata.name, b.metadata.name);
    for (const policy of set.authorizationPolicies) push(this.authorization, serviceKey(policy.metadata.namespace, policy.spec.target), policy);
    for (const list of this.authorization.values()) list.sort(byName);
    for (const policy of [...set.trafficPolicies].sort(byName)) {
      const key = serviceKey(policy.metadata.namespace, policy.spec.target);
      if (!this.traffic.has(key)) this.traffic.set(key, policy.spec);
    }
    for (const policy of set.upstreamPolicies) push(this.upstream, serviceKey(policy.metadata.namespace, policy.spec.source), policy);
    for (const list of this.upstream.values()) list.sort(byName);
  }

  /** AuthorizationPolicies targeting a service, sorted by name. */
  authorizationPolicies(namespace: string, service: string): readonly NamedAuthorizationPolicy[] {
    return this.authorization.get(serviceKey(namespace, service)) ?? NONE;
  }

  /** The TrafficPolicy in force for a service: the first by name when several target it. */
  trafficPolicy(namespace: string, service: string): TrafficPolicySpec | undefined {
    return this.traffic.get(serviceKey(namespace, service));
  }

  /** UpstreamPolicies whose source is the service, sorted by name. */
  upstreamPolicies(namespace: string, source: string): readonly UpstreamPolicyDocument[] {
    return this.upstream.get(serviceKey(namespace, source)) ?? NONE;
  }

  /**
   * The services (`namespace/name`) whose policies differ from `before`'s, by content: each
   * service's TrafficPolicy in force and its lists of AuthorizationPolicies and UpstreamPolicies.
   */
  differences(before: PolicyLookup): PolicyDifferences {
    return {
      destinations: differingKeys(before.traffic, this.traffic),
      sources: new Set([...differingKeys(before.authorization, this.authorization), ...differingKeys(before.upstream, this.upstream)]),
    };
  }
}

/** Services whose policies changed between two policy sets, split by whose proxies that reaches. */
export interface PolicyDifferences {
  /** Their TrafficPolicy in force changed: their callers' clusters, CLAs, routes and listeners. */
  readonly destinations: ReadonlySet<string>;
  /** Their AuthorizationPolicies or UpstreamPolicies changed: the proxies of their own workloads. */
  readonly sources: ReadonlySet<string>;
}

function differingKeys(before: ReadonlyMap<string, unknown>, after: ReadonlyMap<string, unknown>): Set<string> {
  const out = new Set<string>();
  for (const [key, value] of after) {
    const old = before.get(key);
    if (old === undefined || !samePolicies(old, value)) out.add(key);
  }
  for (const key of before.keys()) if (!after.has(key)) out.add(key);
  return out;
}

/** Policies kept from one set to the next are the same objects; others are compared by content. */
function samePolicies(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, i) => item === b[i])) return true;
  return canonicalJson(a) === canonicalJson(b);
}

const NONE: readonly never[] = Object.freeze([]);

function push<T>(map: Map<string, T[]>, key: string, item: T): void {
  const list = map.get(key);
  if (list) list.push(item);
  else map.set(key, [item]);
}

/**
 * Lookups over one MeshInput, computed once per snapshot. Pure: built from the input alone, or
 * (`derive`) from the previous snapshot's index and the workloads that changed since.
 */
export class MeshIndex {
  private readonly workloadsByService: Map<string, readonly Workload[]>;
  private readonly views = new Map<string, ServiceView>();

  readonly policies: PolicyLookup;

  /** `policies` may be a lookup kept from an earlier snapshot with the same PolicySet. */
  constructor(
    readonly input: MeshInput,
    policies?: PolicyLookup,
    workloadsByService?: Map<string, readonly Workload[]>,
  ) {
    this.policies = policies?.set === input.policies ? policies : new PolicyLookup(input.policies);
    if (workloadsByService) {
      this.workloadsByService = workloadsByService;
      return;
    }
    const grouped = new Map<string, Workload[]>();
    const sorted = [...input.workloads.values()].sort((a, b) => compareStrings(a.id, b.id));
    for (const workload of sorted) push(grouped, serviceKey(workload.namespace, workload.service), workload);
    this.workloadsByService = grouped;
  }

  /**
   * The index of `input`, given the index of the snapshot before it, the workloads added, removed
   * or replaced since, and the services whose view may differ for another reason (a changed
   * TrafficPolicy): only the services the workloads belong to are regrouped, and every service
   * not named keeps its view (so its workload list stays the same array).
   */
  static derive(previous: MeshIndex, input: MeshInput, changedWorkloads: ReadonlySet<string>, changedServices: ReadonlySet<string>): MeshIndex {
    const byService = new Map(previous.workloadsByService);
    const touched = new Set<string>();
    for (const id of changedWorkloads) {
      const before = previous.input.workloads.get(id);
      const after = input.workloads.get(id);
      if (before) touched.add(serviceKey(before.namespace, before.service));
      if (after) touched.add(serviceKey(after.namespace, after.service));
    }
    for (const key of touched) {
      const list = (byService.get(key) ?? []).filter((w) => !changedWorkloads.has(w.id));
      for (const id of changedWorkloads) {
        const workload = input.workloads.get(id);
        if (workload && serviceKey(workload.namespace, workload.service) === key) list.push(workload);
      }
      list.sort((a, b) => compareStrings(a.id, b.id));
      if (list.length > 0) byService.set(key, list);
      else byService.delete(key);
    }
    const index = new MeshIndex(input, previous.policies, byService);
    for (const [key, view] of previous.views) if (!touched.has(key) && !changedServices.has(key)) index.views.set(key, view);
    return index;
  }

  /** Whether any workload of the service is registered. */
  hasWorkloads(namespace: string, name: string): boolean {
    return this.workloadsByService.has(serviceKey(namespace, name));
  }

  /** `hasWorkloads` by `namespace/name` key. */
  hasWorkloadsByKey(key: string): boolean {
    return this.workloadsByService.has(key);
  }

  /** The workloads of a service by `namespace/name` key, sorted by id. */
  workloadsByKey(key: string): readonly Workload[] {
    return this.workloadsByService.get(key) ?? [];
  }

  service(namespace: string, name: string): ServiceView {
    const key = serviceKey(namespace, name);
    const cached = this.views.get(key);
    if (cached) return cached;
    const workloads = this.workloadsByService.get(key) ?? [];
    const { protocol, mixed } = voteProtocol(workloads);
    const accounts = [...new Set(workloads.map((w) => w.serviceAccount))].sort(compareStrings);
    const view: ServiceView = {
      name,
      namespace,
      protocol,
      mixedProtocols: mixed,
      workloads,
      serviceAccounts: accounts.length > 0 ? accounts : [name],
      trafficPolicy: this.policies.trafficPolicy(namespace, name),
    };
    this.views.set(key, view);
    return view;
  }

  /** AuthorizationPolicies targeting a service, sorted by name. */
  authorizationPolicies(namespace: string, service: string): readonly NamedAuthorizationPolicy[] {
    return this.policies.authorizationPolicies(namespace, service);
  }

  /**
   * The workload's registered upstreams followed by those UpstreamPolicies add for its service,
   * one per local port (the first claim of a port wins), sorted by local port.
   */
  upstreamsOf(workload: Workload): readonly Upstream[] {
    const policies = this.policies.upstreamPolicies(workload.namespace, workload.service);
    // The common case, asked several times per proxy and change: registered upstreams already in
    // port order, nothing added by policy. The registration's own (frozen) list is the answer.
    if (policies.length === 0 && ascendingPorts(workload.upstreams)) return workload.upstreams;
    const byPort = new Map<number, Upstream>();
    for (const u of workload.upstreams) if (!byPort.has(u.localPort)) byPort.set(u.localPort, u);
    for (const policy of policies) {
      for (const u of policy.spec.upstreams) {
        if (byPort.has(u.localPort)) continue;
        byPort.set(u.localPort, { service: u.service, namespace: u.namespace ?? policy.metadata.namespace, localPort: u.localPort });
      }
    }
    return [...byPort.values()].sort((a, b) => a.localPort - b.localPort);
  }

  /** The Gateway document an ingress gateway workload serves: the one named like its service. */
  gatewayOf(workload: Workload): (PolicyDocument & { kind: 'Gateway' }) | undefined {
    return this.input.policies.gateways.find((g) => g.metadata.namespace === workload.namespace && g.metadata.name === workload.service);
  }

  /** HTTPRoutes with a parentRef to the gateway, sorted by namespace and name. */
  routesOf(gateway: PolicyDocument & { kind: 'Gateway' }): (PolicyDocument & { kind: 'HTTPRoute' })[] {
    return this.input.policies.httpRoutes
      .filter((route) => route.spec.parentRefs.some((ref) => ref.namespace === gateway.metadata.namespace && ref.name === gateway.metadata.name))
      .sort((a, b) => compareStrings(`${a.metadata.namespace}/${a.metadata.name}`, `${b.metadata.namespace}/${b.metadata.name}`));
  }
}

/** Whether every local port is greater than the one before (so they are unique and sorted). */
function ascendingPorts(upstreams: readonly Upstream[]): boolean {
  for (let i = 1; i < upstreams.length; i += 1) if (upstreams[i - 1]!.localPort >= upstreams[i]!.localPort) return false;
  return true;
}
