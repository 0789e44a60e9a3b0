import type { AuthorizationRule, CallerMatch, RequestMatch } from '../../core/policy.js';
import { spiffeId } from '../../core/workload.js';
import type { NamedAuthorizationPolicy } from '../model.js';
import { FilterName, rbacPolicyName, rbacStatPrefix } from '../names.js';
import type { TranslationNote } from '../types.js';
import { ProtoType, anyOf } from './common.js';

/**
 * AuthorizationPolicies → Envoy RBAC. Semantics:
 * - no policy targets the service: no RBAC filter (everything is allowed);
 * - DENY policies go into a first filter and ALLOW policies into a second, so a DENY always wins;
 * - once an ALLOW policy exists, whatever it does not allow is denied (also when it has no rules).
 *
 * On a TCP service, request (`to`) conditions cannot be evaluated. Like Istio we fail closed: an
 * ALLOW rule with `to` grants nothing, a DENY rule with `to` denies the whole connection. Each
 * such rule is reported as a HTTP_RULE_ON_TCP_SERVICE note.
 */

export interface RbacContext {
  readonly trustDomain: string;
  /** Service accounts of a service's registered workloads (its name by convention if none). */
  serviceAccountsOf(namespace: string, service: string): readonly string[];
}

export type RbacLayer = 'http' | 'network';

interface RbacRules {
  readonly action: 'ALLOW' | 'DENY';
  readonly policies: Record<string, unknown>;
}

export interface RbacPlan {
  readonly deny: RbacRules | undefined;
  readonly allow: RbacRules | undefined;
  readonly notes: readonly TranslationNote[];
}

export function planRbac(policies: readonly NamedAuthorizationPolicy[], context: RbacContext, layer: RbacLayer): RbacPlan {
  const notes: TranslationNote[] = [];
  const rulesFor = (action: 'ALLOW' | 'DENY'): RbacRules | undefined => {
    const selected = policies.filter((p) => p.spec.action === action);
    if (selected.length === 0) return undefined;
    const out: Record<string, unknown> = {};
    for (const policy of selected) {
      policy.spec.rules.forEach((rule, index) => {
        const name = rbacPolicyName(policy.metadata.namespace, policy.metadata.name, index);
        const permissions = permissionsFor(rule, action, layer);
        if (permissions === 'unenforceable' || permissions === 'whole-connection') {
          notes.push({
            code: 'HTTP_RULE_ON_TCP_SERVICE',
            message:
              permissions === 'unenforceable'
                ? `${name}: request conditions cannot apply to a TCP service; this ALLOW rule grants nothing`
                : `${name}: request conditions cannot apply to a TCP service; this DENY rule denies every connection from its callers`,
          });
          if (permissions === 'unenforceable') return;
        }
        out[name] = {
          permissions: permissions === 'whole-connection' ? [{ any: true }] : permissions,
          principals: principalsFor(rule, policy.metadata.namespace, context),
        };
      });
    }
    return { action, policies: out };
  };
  return { deny: rulesFor('DENY'), allow: rulesFor('ALLOW'), notes };
}

export function httpRbacFilters(plan: RbacPlan): Record<string, unknown>[] {
  const filters: Record<string, unknown>[] = [];
  if (plan.deny) filters.push({ name: FilterName.httpRbacDeny, typed_config: anyOf(ProtoType.httpRbac, { rules: plan.deny }) });
  if (plan.allow) filters.push({ name: FilterName.httpRbacAllow, typed_config: anyOf(ProtoType.httpRbac, { rules: plan.allow }) });
  return filters;
}

export function networkRbacFilters(plan: RbacPlan, statPrefix: string): Record<string, unknown>[] {
  const filters: Record<string, unknown>[] = [];
  if (plan.deny) {
    filters.push({ name: FilterName.networkRbacDeny, typed_config: anyOf(ProtoType.networkRbac, { stat_prefix: rbacStatPrefix(statPrefix, 'DENY'), rules: plan.deny }) });
  }
  if (plan.allow) {
    filters.push({ name: FilterName.networkRbacAllow, typed_config: anyOf(ProtoType.networkRbac, { stat_prefix: rbacStatPrefix(statPrefix, 'ALLOW'), rules: plan.allow }) });
  }
  return filters;
}

function principalsFor(rule: AuthorizationRule, policyNamespace: string, context: RbacContext): Record<string, unknown>[] {
  const from = rule.from ?? [];
  if (from.length === 0) return [authenticated({ prefix: `spiffe://${context.trustDomain}/` })];
  return from.flatMap((caller) => callerPrincipals(caller, policyNamespace, context));
}

function callerPrincipals(caller: CallerMatch, policyNamespace: string, context: RbacContext): Record<string, unknown>[] {
  if ('spiffeId' in caller) return [authenticated({ exact: caller.spiffeId })];
  if ('service' in caller) {
    const namespace = caller.namespace ?? policyNamespace;
    return context
      .serviceAccountsOf(namespace, caller.service)
      .map((account) => authenticated({ exact: spiffeId(context.trustDomain, namespace, account) }));
  }
  const regex = `^${escapeRegex(`spiffe://${context.trustDomain}/ns/${caller.namespace}/sa/`)}[^/]+$`;
  return [authenticated({ safe_regex: { regex } })];
}

function authenticated(principalName: Record<string, unknown>): Record<string, unknown> {
  return { authenticated: { principal_name: principalName } };
}

type Permissions = Record<string, unknown>[] | 'unenforceable' | 'whole-connection';

function permissionsFor(rule: AuthorizationRule, action: 'ALLOW' | 'DENY', layer: RbacLayer): Permissions {
  const to = rule.to ?? [];
  if (to.length === 0) return [{ any: true }];
  if (layer === 'network') return action === 'ALLOW' ? 'unenforceable' : 'whole-connection';
  return to.map(requestPermission);
}

function requestPermission(match: RequestMatch): Record<string, unknown> {
  const parts: Record<string, unknown>[] = [];
  const methods = match.methods ?? [];
  if (methods.length > 0) {
    parts.push(anyOfPermissions(methods.map((m) => ({ header: { name: ':method', string_match: { exact: m } } }))));
  }
  const paths = match.paths ?? [];
  if (paths.length > 0 && !paths.includes('*')) {
    parts.push(anyOfPermissions(paths.map((p) => ({ url_path: { path: pathMatcher(p) } }))));
  }
  if (parts.length === 0) return { any: true };
  return parts.length === 1 ? parts[0] : { and_rules: { rules: parts } };
}

function anyOfPermissions(permissions: Record<string, unknown>[]): Record<string, unknown> {
  return permissions.length === 1 ? permissions[0] : { or_rules: { rules: permissions } };
}

/** `"/a/b"` matches exactly; `"/a/*"` matches the prefix `"/a/"`. */
function pathMatcher(path: string): Record<string, unknown> {
  return path.endsWith('*') ? { prefix: path.slice(0, -1) } : { exact: path };
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
