/**
 * `accord describe <workload|service>`: what the mesh in force means for one service, worked out
 * from the same snapshot the translator reads — the mTLS mode, the policies that name it, who may
 * call it and whom it may call (AuthorizationPolicy semantics of src/mesh/configurers/rbac.ts),
 * its workloads' certificates, and its upstreams with their endpoints.
 */
import type { AuthorizationRule, CallerMatch, PolicySet } from '../core/policy.js';
import type { Workload } from '../core/workload.js';
import { MeshIndex } from '../mesh/model.js';
import { compareStrings } from '../mesh/hash.js';
import { ServiceError } from '../core/errors.js';
import type { MeshSnapshot } from './mesh-state.js';

/** ALLOWED: every request; PARTIAL: some requests (rules with `to`); DENIED: none. */
export type Access = 'ALLOWED' | 'PARTIAL' | 'DENIED';

export interface AccessVerdict {
  readonly service: string;
  readonly namespace: string;
  readonly access: Access;
  /** The policies that decided, as `Kind namespace/name`; empty when no policy applies (allowed by default). */
  readonly decidedBy: readonly string[];
}

export interface PolicyRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  /** How it concerns the service: it is the `target`, the `source`, an upstream, or a caller in `from`. */
  readonly role: 'target' | 'source' | 'upstream' | 'caller';
  /** A TrafficPolicy shadowed by another targeting the same service (the first by name wins). */
  readonly inForce: boolean;
}

export interface DescribedWorkload {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  readonly meshPort: number;
  readonly health: string;
  readonly spiffeId: string;
  /** The leaf a replica issued to it, if any and still valid. */
  readonly certificate: { readonly serial: string; readonly spiffeId: string; readonly notAfter: string } | null;
}

export interface Description {
  readonly kind: 'workload' | 'service';
  readonly service: { readonly name: string; readonly namespace: string; readonly protocol: string };
  readonly mtls: { readonly mode: string; readonly scope: 'mesh' };
  readonly policies: readonly PolicyRef[];
  /** What a mesh caller no rule names gets. */
  readonly defaultAccess: Access;
  readonly callers: readonly AccessVerdict[];
  readonly calls: readonly AccessVerdict[];
  readonly workloads: readonly DescribedWorkload[];
  readonly upstreams: readonly {
    readonly service: string;
    readonly namespace: string;
    readonly localPort: number;
    readonly endpoints: readonly { readonly workload: string; readonly address: string; readonly port: number; readonly health: string }[];
  }[];
}

export interface DescribeDeps {
  readonly snapshot: () => MeshSnapshot;
  readonly spiffeIdOf: (workload: Workload) => string;
  /** Valid leaves by workload id, as every replica reports them (`accord status`). */
  readonly leaves: () => Promise<ReadonlyMap<string, { serial: string; notAfter: string }>>;
}

interface Caller {
  readonly name: string;
  readonly namespace: string;
  readonly spiffeIds: readonly string[];
}

/** Whether one rule's `from` names the caller (no `from`: every mesh identity). */
function ruleMatches(rule: AuthorizationRule, policyNamespace: string, caller: Caller | undefined): boolean {
  const from = rule.from ?? [];
  if (from.length === 0) return true;
  if (!caller) return false;
  return from.some((match: CallerMatch) => {
    if ('spiffeId' in match) return caller.spiffeIds.includes(match.spiffeId);
    if ('service' in match) return match.service === caller.name && (match.namespace ?? policyNamespace) === caller.namespace;
    return match.namespace === caller.namespace;
  });
}

/** The access a caller (undefined: a mesh identity no rule names) gets to `target`, as its RBAC filters decide. */
function accessTo(policies: PolicySet, target: { name: string; namespace: string; http: boolean }, caller: Caller | undefined): { access: Access; decidedBy: string[] } {
  const targeting = policies.authorizationPolicies
    .filter((p) => p.metadata.namespace === target.namespace && p.spec.target === target.name)
    .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const label = (p: { metadata: { namespace: string; name: string } }): string => `AuthorizationPolicy ${p.metadata.namespace}/${p.metadata.name}`;
  const denying: string[] = [];
  let partlyDenied = false;
  for (const policy of targeting.filter((p) => p.spec.action === 'DENY')) {
    for (const rule of policy.spec.rules) {
      if (!ruleMatches(rule, policy.metadata.namespace, caller)) continue;
      denying.push(label(policy));
      // On TCP a DENY with request conditions denies the whole connection (fail closed).
      if ((rule.to ?? []).length === 0 || !target.http) return { access: 'DENIED', decidedBy: [label(policy)] };
      partlyDenied = true;
    }
  }
  const allows = targeting.filter((p) => p.spec.action === 'ALLOW');
  if (allows.length === 0) return { access: partlyDenied ? 'PARTIAL' : 'ALLOWED', decidedBy: [...new Set(denying)] };
  const granting: string[] = [];
  let whole = false;
  for (const policy of allows) {
    for (const rule of policy.spec.rules) {
      if (!ruleMatches(rule, policy.metadata.namespace, caller)) continue;
      const conditional = (rule.to ?? []).length > 0;
      // On TCP an ALLOW with request conditions grants nothing.
      if (conditional && !target.http) continue;
      granting.push(label(policy));
      if (!conditional) whole = true;
    }
  }
  if (granting.length === 0) return { access: 'DENIED', decidedBy: allows.map(label) };
  return { access: whole && !partlyDenied ? 'ALLOWED' : 'PARTIAL', decidedBy: [...new Set([...granting, ...denying])] };
}

const NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

export class DescribeService {
  constructor(private readonly deps: DescribeDeps) {}

  /** `target` is a workload id or a service name; `namespace` narrows a service name. */
  async describe(target: string, namespace?: string): Promise<Description> {
    if (!NAME.test(target)) throw new ServiceError('INVALID_ARGUMENT', 'give a workload id or a service name', [{ field: 'target', message: 'not a workload id or service name' }]);
    if (namespace !== undefined && !NAME.test(namespace)) throw new ServiceError('INVALID_ARGUMENT', 'namespace is not a valid name', [{ field: 'namespace', message: 'not a name' }]);
    const leaves = await this.deps.leaves();
    const snapshot = this.deps.snapshot();
    const index = new MeshIndex({ revision: snapshot.revision, workloads: snapshot.workloads, policies: snapshot.policies });
    const workload = snapshot.workloads.get(target);
    let kind: Description['kind'];
    let service: { name: string; namespace: string };
    if (workload && (namespace === undefined || workload.namespace === namespace)) {
      kind = 'workload';
      service = { name: workload.service, namespace: workload.namespace };
    } else {
      kind = 'service';
      service = this.resolveService(snapshot, target, namespace);
    }
    const view = index.service(service.namespace, service.name);
    const http = view.protocol !== 'tcp';
    const policies = snapshot.policies;
    const members = kind === 'workload' && workload ? [workload] : view.workloads;
    const callerOf = (name: string, ns: string): Caller => ({
      name,
      namespace: ns,
      spiffeIds: index.service(ns, name).workloads.map((w) => this.deps.spiffeIdOf(w)),
    });
    const services = this.services(snapshot);

    const callers = services
      .filter((s) => !(s.name === service.name && s.namespace === service.namespace))
      .map((s) => ({ service: s.name, namespace: s.namespace, ...accessTo(policies, { ...service, http }, callerOf(s.name, s.namespace)) }));
    const upstreamKeys = new Map<string, { service: string; namespace: string; localPort: number }>();
    for (const member of members) {
      for (const upstream of index.upstreamsOf(member)) upstreamKeys.set(`${upstream.namespace}/${upstream.service}/${upstream.localPort}`, upstream);
    }
    const upstreams = [...upstreamKeys.values()].sort((a, b) => a.localPort - b.localPort);
    const self = callerOf(service.name, service.namespace);
    const seen = new Set<string>();
    const calls: AccessVerdict[] = [];
    for (const upstream of upstreams) {
      const key = `${upstream.namespace}/${upstream.service}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const target = index.service(upstream.namespace, upstream.service);
      calls.push({ service: upstream.service, namespace: upstream.namespace, ...accessTo(policies, { name: upstream.service, namespace: upstream.namespace, http: target.protocol !== 'tcp' }, self) });
    }

    return {
      kind,
      service: { ...service, protocol: view.protocol },
      mtls: { mode: policies.mesh.mtls, scope: 'mesh' },
      policies: this.policiesOf(policies, service),
      defaultAccess: accessTo(policies, { ...service, http }, undefined).access,
      callers,
      calls,
      workloads: members.map((member) => {
        const spiffeId = this.deps.spiffeIdOf(member);
        const leaf = leaves.get(member.id);
        return {
          id: member.id,
          address: member.address,
          port: member.port,
          meshPort: member.meshPort,
          health: member.health,
          spiffeId,
          certificate: leaf ? { serial: leaf.serial, spiffeId, notAfter: leaf.notAfter } : null,
        };
      }),
      upstreams: upstreams.map((upstream) => ({
        ...upstream,
        endpoints: index.service(upstream.namespace, upstream.service).workloads.map((w) => ({ workload: w.id, address: w.address, port: w.meshPort, health: w.health })),
      })),
    };
  }

  private services(snapshot: MeshSnapshot): { name: string; namespace: string }[] {
    const keys = new Map<string, { name: string; namespace: string }>();
    for (const w of snapshot.workloads.values()) keys.set(`${w.namespace}/${w.service}`, { name: w.service, namespace: w.namespace });
    return [...keys.values()].sort((a, b) => compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name));
  }

  private resolveService(snapshot: MeshSnapshot, name: string, namespace: string | undefined): { name: string; namespace: string } {
    const matches = this.services(snapshot).filter((s) => s.name === name && (namespace === undefined || s.namespace === namespace));
    const named = [
      ...snapshot.policies.authorizationPolicies.map((p) => ({ name: p.spec.target, namespace: p.metadata.namespace })),
      ...snapshot.policies.trafficPolicies.map((p) => ({ name: p.spec.target, namespace: p.metadata.namespace })),
    ].filter((s) => s.name === name && (namespace === undefined || s.namespace === namespace));
    const found = matches.length > 0 ? matches : named.slice(0, 1);
    if (found.length === 0) {
      throw new ServiceError('NOT_FOUND', `no workload with id "${name}" and no service "${name}"${namespace ? ` in namespace "${namespace}"` : ''} is registered or named by a policy`);
    }
    if (found.length > 1) {
      throw new ServiceError('INVALID_ARGUMENT', `service "${name}" exists in several namespaces (${found.map((s) => s.namespace).join(', ')}); give the namespace`, [
        { field: 'namespace', message: 'required for this service' },
      ]);
    }
    return found[0] as { name: string; namespace: string };
  }

  private policiesOf(policies: PolicySet, service: { name: string; namespace: string }): PolicyRef[] {
    const out: PolicyRef[] = [];
    const traffic = policies.trafficPolicies
      .filter((p) => p.metadata.namespace === service.namespace && p.spec.target === service.name)
      .sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
    traffic.forEach((p, i) => out.push({ kind: p.kind, namespace: p.metadata.namespace, name: p.metadata.name, role: 'target', inForce: i === 0 }));
    for (const p of policies.authorizationPolicies) {
      if (p.metadata.namespace === service.namespace && p.spec.target === service.name) {
        out.push({ kind: p.kind, namespace: p.metadata.namespace, name: p.metadata.name, role: 'target', inForce: true });
      } else if (p.spec.rules.some((rule) => (rule.from ?? []).some((m) => 'service' in m && m.service === service.name && (m.namespace ?? p.metadata.namespace) === service.namespace))) {
        out.push({ kind: p.kind, namespace: p.metadata.namespace, name: p.metadata.name, role: 'caller', inForce: true });
      }
    }
    for (const p of policies.upstreamPolicies) {
      if (p.metadata.namespace === service.namespace && p.spec.source === service.name) {
        out.push({ kind: p.kind, namespace: p.metadata.namespace, name: p.metadata.name, role: 'source', inForce: true });
      } else if (p.spec.upstreams.some((u) => u.service === service.name && (u.namespace ?? p.metadata.namespace) === service.namespace)) {
        out.push({ kind: p.kind, namespace: p.metadata.namespace, name: p.metadata.name, role: 'upstream', inForce: true });
      }
    }
    return out;
  }
}
