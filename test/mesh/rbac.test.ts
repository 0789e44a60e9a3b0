import { describe, expect, it } from 'vitest';
import type { AuthorizationPolicySpec } from '../../src/core/policy.js';
import { httpRbacFilters, networkRbacFilters, planRbac, type RbacContext } from '../../src/mesh/configurers/rbac.js';
import type { NamedAuthorizationPolicy } from '../../src/mesh/model.js';
import { allowedByHttpFilters } from './support/rbac-eval.js';

const context: RbacContext = {
  trustDomain: 'mesh.local',
  serviceAccountsOf: (namespace, service) => (namespace === 'default' && service === 'web' ? ['web-a', 'web-b'] : [service]),
};

function policy(name: string, spec: AuthorizationPolicySpec, namespace = 'default'): NamedAuthorizationPolicy {
  return { metadata: { name, namespace }, spec };
}

const id = (ns: string, sa: string): string => `spiffe://mesh.local/ns/${ns}/sa/${sa}`;

function filtersFor(policies: NamedAuthorizationPolicy[]): Record<string, unknown>[] {
  return [...httpRbacFilters(planRbac(policies, context, 'http')), { name: 'router', typed_config: { '@type': 'x.Router' } }];
}

describe('RBAC from AuthorizationPolicies', () => {
  it('adds no RBAC filter when no policy targets the service (allow)', () => {
    const plan = planRbac([], context, 'http');
    expect(httpRbacFilters(plan)).toEqual([]);
    expect(networkRbacFilters(plan, 'in')).toEqual([]);
    expect(allowedByHttpFilters(filtersFor([]), { principal: undefined })).toBe(true);
  });

  it('denies by default once an ALLOW policy exists', () => {
    const filters = filtersFor([policy('callers', { target: 'api', action: 'ALLOW', rules: [{ from: [{ service: 'orders' }] }] })]);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'orders') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'billing') })).toBe(false);
    expect(allowedByHttpFilters(filters, { principal: undefined })).toBe(false);
  });

  it('an ALLOW policy without rules denies everything', () => {
    const filters = filtersFor([policy('nobody', { target: 'api', action: 'ALLOW', rules: [] })]);
    expect(filters).toHaveLength(2);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'orders') })).toBe(false);
  });

  it('puts DENY in its own filter before ALLOW, so DENY wins', () => {
    const filters = filtersFor([
      policy('allow-all-authenticated', { target: 'api', action: 'ALLOW', rules: [{}] }),
      policy('no-deletes', { target: 'api', action: 'DENY', rules: [{ from: [{ service: 'orders' }], to: [{ methods: ['DELETE'] }] }] }),
    ]);
    expect(filters.map((f) => f.name)).toEqual(['accord.rbac.deny', 'accord.rbac.allow', 'router']);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'orders'), method: 'GET', path: '/' })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'orders'), method: 'DELETE', path: '/' })).toBe(false);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'web-a'), method: 'DELETE', path: '/' })).toBe(true);
  });

  it('an empty `from` means any identity of the trust domain', () => {
    const filters = filtersFor([policy('any', { target: 'api', action: 'ALLOW', rules: [{ from: [] }] })]);
    expect(allowedByHttpFilters(filters, { principal: id('other', 'x') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: 'spiffe://elsewhere/ns/default/sa/x' })).toBe(false);
  });

  it('expands a caller service into the service accounts of its workloads', () => {
    const filters = filtersFor([policy('web', { target: 'api', action: 'ALLOW', rules: [{ from: [{ service: 'web' }] }] })]);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'web-a') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'web-b') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'web') })).toBe(false);
  });

  it('matches a namespace caller by a regex anchored on the namespace segment', () => {
    const filters = filtersFor([policy('ops', { target: 'api', action: 'ALLOW', rules: [{ from: [{ namespace: 'ops' }] }] })]);
    expect(allowedByHttpFilters(filters, { principal: id('ops', 'anything') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('ops-staging', 'anything') })).toBe(false);
    expect(allowedByHttpFilters(filters, { principal: 'spiffe://meshXlocal/ns/ops/sa/a' })).toBe(false);
  });

  it('resolves a caller service in the policy namespace unless one is given', () => {
    const filters = filtersFor([
      policy('x', { target: 'api', action: 'ALLOW', rules: [{ from: [{ service: 'jobs' }, { service: 'cron', namespace: 'batch' }] }] }, 'shop'),
    ]);
    expect(allowedByHttpFilters(filters, { principal: id('shop', 'jobs') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('batch', 'cron') })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: id('default', 'jobs') })).toBe(false);
  });

  it('matches methods and exact or prefix paths', () => {
    const filters = filtersFor([
      policy('reads', {
        target: 'api',
        action: 'ALLOW',
        rules: [{ from: [{ spiffeId: id('default', 'ui') }], to: [{ methods: ['GET', 'HEAD'], paths: ['/items/*', '/health'] }] }],
      }),
    ]);
    const ui = id('default', 'ui');
    expect(allowedByHttpFilters(filters, { principal: ui, method: 'GET', path: '/items/42' })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: ui, method: 'HEAD', path: '/health' })).toBe(true);
    expect(allowedByHttpFilters(filters, { principal: ui, method: 'POST', path: '/items/42' })).toBe(false);
    expect(allowedByHttpFilters(filters, { principal: ui, method: 'GET', path: '/healthz' })).toBe(false);
  });

  it('on a TCP service fails closed for request conditions and says so', () => {
    const plan = planRbac(
      [
        policy('allow', { target: 'db', action: 'ALLOW', rules: [{ from: [{ service: 'a' }], to: [{ methods: ['GET'] }] }, { from: [{ service: 'b' }] }] }),
        policy('deny', { target: 'db', action: 'DENY', rules: [{ from: [{ service: 'c' }], to: [{ paths: ['/x'] }] }] }),
      ],
      context,
      'network',
    );
    expect(Object.keys(plan.allow?.policies ?? {})).toEqual(['default/allow/rule-1']);
    expect(plan.deny?.policies['default/deny/rule-0']).toMatchObject({ permissions: [{ any: true }] });
    expect(plan.notes.map((n) => n.code)).toEqual(['HTTP_RULE_ON_TCP_SERVICE', 'HTTP_RULE_ON_TCP_SERVICE']);
    expect(networkRbacFilters(plan, 'inbound_1').map((f) => f.name)).toEqual(['accord.network_rbac.deny', 'accord.network_rbac.allow']);
  });
});
