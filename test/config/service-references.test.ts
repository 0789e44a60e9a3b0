import { describe, expect, it } from 'vitest';
import { closestName, formatPolicyError, parsePolicyStream, validatePolicySet, type ServiceReferenceCheck } from '../../src/config/index.js';
import { expectLoaded } from './helpers.js';

const authz = (target: string, from: string, extra = ''): string => `apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata:
  name: ${target}-callers
${extra}spec:
  target: ${target}
  rules:
    - from: [${from}]
`;

function check(yaml: string, references: ServiceReferenceCheck): string[] {
  const { located } = expectLoaded(parsePolicyStream(yaml, 'p.yaml'));
  const result = validatePolicySet(located, [], { serviceReferences: references });
  return result.ok ? [] : result.errors.map(formatPolicyError);
}

const registered = new Set(['default/payments', 'default/orders', 'shop/cart']);

describe('service references', () => {
  it('accepts registered services and services another document names', () => {
    expect(check(authz('payments', '{ service: orders }'), { registered })).toEqual([]);
    // Neither is registered, but each is named by the other document.
    const pair = `${authz('billing', '{ service: invoices }')}---\n${authz('invoices', '{ service: billing }')}`;
    expect(check(pair, { registered })).toEqual([]);
  });

  it('rejects a target nothing knows, at its position, with the closest known name', () => {
    expect(check(authz('paymnets', '{ service: orders }'), { registered })).toEqual([
      'p.yaml:6:11: spec.target: unknown service "default/paymnets" (did you mean "payments"?): not registered and named by no other policy; ' +
        'if intended, annotate accord.dev/allow-unknown-targets: "true" or use --allow-unknown-targets',
    ]);
  });

  it('a document naming a service twice does not make it known', () => {
    const errors = check(authz('ghost', '{ service: ghost }'), { registered });
    expect(errors).toHaveLength(2);
  });

  it('checks callers: services, namespaces and SPIFFE IDs of the mesh', () => {
    const errors = check(
      authz('payments', '{ service: ordrs }, { namespace: shpo }, { spiffeId: "spiffe://mesh.local/ns/default/sa/ordres" }, { spiffeId: "spiffe://other.org/ns/x/sa/y" }'),
      { registered, serviceAccounts: new Set(['default/orders-sa']), trustDomain: 'mesh.local' },
    );
    expect(errors).toEqual([
      expect.stringMatching(/spec\.rules\[0\]\.from\[0\]\.service: unknown service "default\/ordrs" \(did you mean "orders"\?\)/),
      expect.stringMatching(/spec\.rules\[0\]\.from\[1\]\.namespace: unknown namespace "shpo" \(did you mean "shop"\?\)/),
      expect.stringMatching(/spec\.rules\[0\]\.from\[2\]\.spiffeId: unknown service account "default\/ordres" \(did you mean "orders"\?\)/),
    ]);
    expect(check(authz('payments', '{ spiffeId: "spiffe://mesh.local/ns/default/sa/orders-sa" }'), { registered, serviceAccounts: new Set(['default/orders-sa']), trustDomain: 'mesh.local' })).toEqual([]);
  });

  it('skips documents annotated as intended, and documents the caller does not ask to check', () => {
    const annotated = authz('later', '{ service: orders }', '  annotations: { accord.dev/allow-unknown-targets: "true" }\n');
    expect(check(annotated, { registered })).toEqual([]);
    expect(check(authz('later', '{ service: orders }'), { registered, checkDocument: () => false })).toEqual([]);
  });

  it('closestName suggests only names within a typo of the unknown one', () => {
    expect(closestName('paymnets', ['payments', 'orders'])).toBe('payments');
    expect(closestName('ab', ['xy', 'cd'])).toBeUndefined();
    expect(closestName('inventory', ['invoices'])).toBeUndefined();
  });
});
