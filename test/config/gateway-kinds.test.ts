import { describe, expect, it } from 'vitest';
import { documentsToJson, formatPolicyError, parsePolicyStream } from '../../src/config/index.js';

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: accord
  listeners: [{ name: web, port: 8080, protocol: HTTP }]
`;

function route(backend: string): string {
  return `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: shop }
spec:
  parentRefs: [{ name: edge }]
  rules:
    - backendRefs: [{ name: ${backend} }]
`;
}

describe('Gateway API kinds in a policy stream', () => {
  it('checks backendRefs like any service reference, with the nearest known name', () => {
    const result = parsePolicyStream(GATEWAY + route('odrers'), 'request', { knownServices: new Set(['shop/orders']) });
    expect(result.ok ? [] : result.errors.map(formatPolicyError)).toEqual([
      'request:14:29: spec.rules[0].backendRefs[0].name: unknown service "shop/odrers" (did you mean "orders"?): not registered and named by no other policy; if intended, annotate accord.dev/allow-unknown-targets: "true" or use --allow-unknown-targets',
    ]);
    expect(parsePolicyStream(GATEWAY + route('orders'), 'request', { knownServices: new Set(['shop/orders']) }).ok).toBe(true);
  });

  it('stores the Gateway API kinds under their own apiVersion', () => {
    const result = parsePolicyStream(GATEWAY + route('orders'), 'request');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(documentsToJson(result.documents).map((json) => `${json.apiVersion} ${json.kind}`)).toEqual([
      'gateway.networking.k8s.io/v1 Gateway',
      'gateway.networking.k8s.io/v1 HTTPRoute',
    ]);
  });

  it('refuses a route whose Gateway is missing from the change that would be in force', () => {
    const result = parsePolicyStream(route('orders').slice(4), 'request');
    expect(result.ok ? [] : result.errors.map(formatPolicyError)).toEqual([
      'request:5:24: spec.parentRefs[0].name: no Gateway "shop/edge" in the policy set; apply it before or with this route (or delete the route with it)',
    ]);
  });
});
