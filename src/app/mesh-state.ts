import type { PolicySet } from '../core/policy.js';
import type { Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { EMPTY_POLICY_SET, parsePolicyDocuments, formatPolicyError, type PolicyError } from '../config/index.js';

/** The registry part of the mesh state, as the registry mirror publishes it. */
export interface RegistryView {
  readonly revision: number;
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly policies: readonly unknown[];
}

/** What translation reads: an immutable snapshot of workloads plus the policy set in force. */
export interface MeshSnapshot {
  readonly revision: number;
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly policies: PolicySet;
}

export interface PolicyStatus {
  readonly ok: boolean;
  readonly documents: number;
  readonly errors: readonly PolicyError[];
  readonly at: string;
}

/**
 * Turns registry snapshots into mesh snapshots. Stored policy documents are re-validated when they
 * change (another replica may run a different version); a set that fails keeps the previous policy
 * in force and is reported, never applied in part.
 */
export class MeshStateTracker {
  private current: MeshSnapshot;
  /** The validated policy set in force, before revocations are added. */
  private policiesInForce: PolicySet;
  private revokedCallers: readonly string[] = [];
  /** The last policy set with revocations added, kept while its inputs are the same (translation caches key on its identity). */
  private withRevocationsMemo: { readonly set: PolicySet; readonly callers: string; readonly services: string; readonly result: PolicySet } | undefined;
  /** A trust domain a Mesh document asked for but the running CA cannot serve. */
  private trustDomainConflict: string | undefined;
  private lastDocuments: readonly unknown[] | undefined;
  private status: PolicyStatus;
  private readonly log: Logger;

  constructor(
    logger: Logger,
    private readonly overrides: { trustDomain?: string } = {},
    private readonly onPolicyError: (errors: readonly PolicyError[]) => void = () => undefined,
  ) {
    this.log = logger.child({ component: 'mesh-state' });
    this.policiesInForce = this.withOverrides(EMPTY_POLICY_SET);
    this.current = { revision: 0, workloads: new Map(), policies: this.policiesInForce };
    this.status = { ok: true, documents: 0, errors: [], at: new Date().toISOString() };
  }

  snapshot(): MeshSnapshot {
    return this.current;
  }

  policyStatus(): PolicyStatus & { trustDomainConflict?: string } {
    return this.trustDomainConflict ? { ...this.status, trustDomainConflict: this.trustDomainConflict } : this.status;
  }

  /** Applies a registry snapshot; returns the new mesh snapshot. */
  update(view: RegistryView): MeshSnapshot {
    if (view.policies !== this.lastDocuments) {
      this.lastDocuments = view.policies;
      const parsed = parsePolicyDocuments(view.policies, 'store');
      if (parsed.ok) {
        this.policiesInForce = this.withOverrides(parsed.policySet);
        this.status = { ok: true, documents: view.policies.length, errors: [], at: new Date().toISOString() };
      } else {
        this.status = { ok: false, documents: view.policies.length, errors: parsed.errors, at: new Date().toISOString() };
        this.log.error({ errors: parsed.errors.map(formatPolicyError) }, 'stored policies are invalid; the previous policy stays in force');
        this.onPolicyError(parsed.errors);
      }
    }
    this.current = { revision: view.revision, workloads: view.workloads, policies: this.withRevocations(this.policiesInForce, view.workloads) };
    return this.current;
  }

  /**
   * Callers whose certificates were revoked (SPIFFE IDs). Peers that cannot check CRLs (proxyless
   * gRPC) refuse them through RBAC: a DENY policy on every service, which also wins over any ALLOW.
   */
  setRevokedCallers(spiffeIds: readonly string[]): MeshSnapshot {
    this.revokedCallers = [...spiffeIds].sort();
    this.current = { ...this.current, policies: this.withRevocations(this.policiesInForce, this.current.workloads) };
    return this.current;
  }

  private withRevocations(set: PolicySet, workloads: ReadonlyMap<string, Workload>): PolicySet {
    if (this.revokedCallers.length === 0) return set;
    const services = new Map<string, { namespace: string; name: string }>();
    for (const workload of workloads.values()) services.set(`${workload.namespace}/${workload.service}`, { namespace: workload.namespace, name: workload.service });
    const callersKey = this.revokedCallers.join('\n');
    const servicesKey = [...services.keys()].sort().join('\n');
    const memo = this.withRevocationsMemo;
    if (memo && memo.set === set && memo.callers === callersKey && memo.services === servicesKey) return memo.result;
    const result = this.buildRevocations(set, services);
    this.withRevocationsMemo = { set, callers: callersKey, services: servicesKey, result };
    return result;
  }

  private buildRevocations(set: PolicySet, services: ReadonlyMap<string, { namespace: string; name: string }>): PolicySet {
    const denies = [...services.values()].map((service) => ({
      kind: 'AuthorizationPolicy' as const,
      metadata: { name: 'accord-revoked-callers', namespace: service.namespace },
      spec: { target: service.name, action: 'DENY' as const, rules: [{ from: this.revokedCallers.map((spiffeId) => ({ spiffeId })) }] },
    }));
    return { ...set, authorizationPolicies: [...set.authorizationPolicies, ...denies] };
  }

  /** The CA's trust domain is fixed at start; a Mesh naming another cannot change identities. */
  private withOverrides(set: PolicySet): PolicySet {
    if (!this.overrides.trustDomain || set.mesh.trustDomain === this.overrides.trustDomain) return set;
    if (set.mesh.trustDomain !== EMPTY_POLICY_SET.mesh.trustDomain) {
      this.log.warn(
        { requested: set.mesh.trustDomain, inForce: this.overrides.trustDomain },
        'Mesh.spec.trustDomain differs from the trust domain the CA was started with; restart with --trust-domain to change it',
      );
      this.trustDomainConflict = set.mesh.trustDomain;
    } else {
      this.trustDomainConflict = undefined;
    }
    return { ...set, mesh: { ...set.mesh, trustDomain: this.overrides.trustDomain } };
  }
}
