import { describe, expect, it } from 'vitest';
import { parsePolicyStream } from '../../src/config/index.js';
import type { PolicySet } from '../../src/core/policy.js';
import { MeshTranslator, type MeshInput } from '../../src/mesh/index.js';
import { gatewayCertificateSecrets } from '../../src/mesh/envoy/gateway.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { workloadFrom } from './support/scenario.js';
import { ProtoChecker } from './support/proto-check.js';

const POLICIES = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: accord
  listeners:
    - { name: shop, hostname: shop.example.com, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: shop-cert }] } }
    - { name: api, hostname: api.example.com, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: api-cert }] } }
    - { name: plain, port: 8080, protocol: HTTP }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: shop }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /orders } }]
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-served-by, value: edge }] }
      backendRefs: [{ name: orders, weight: 90 }, { name: payments, weight: 10 }]
      timeouts: { request: 10s, backendRequest: 3s }
    - matches: [{ path: { type: Exact, value: /orders/special } }]
      backendRefs: [{ name: payments }]
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /orders }, statusCode: 301 }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: api }]
  hostnames: [api.example.com]
  rules:
    - filters:
        - type: URLRewrite
          urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } }
      backendRefs: [{ name: payments }]
`;

function input(): MeshInput {
  const loaded = parsePolicyStream(POLICIES, 'test');
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  const policies: PolicySet = loaded.policySet;
  const workloads = [
    workloadFrom({ id: 'edge-1', service: 'edge', namespace: 'shop', address: '127.0.0.1', port: 15000 }),
    workloadFrom({ id: 'orders-1', service: 'orders', namespace: 'shop', address: '127.0.0.2', port: 8080 }),
    workloadFrom({ id: 'payments-1', service: 'payments', namespace: 'shop', address: '127.0.0.3', port: 8080 }),
  ].map((w) => (w.id === 'edge-1' ? { ...w, gateway: { certificateDirectory: '/srv/certs' } } : w));
  return { revision: 1, workloads: new Map(workloads.map((w) => [w.id, w])), policies };
}

type Json = Record<string, unknown>;

describe('ingress gateway translation', () => {
  const translator = new MeshTranslator();
  const translation = translator.translateWithNotes(input(), 'edge-1', 'envoy');
  const listeners = translation.resources.get(TypeUrl.Listener) ?? new Map();
  const clusters = translation.resources.get(TypeUrl.Cluster) ?? new Map();

  it('gives the gateway one listener per port instead of an inbound listener, and the backends\' mesh clusters', () => {
    expect([...listeners.keys()]).toEqual(['gateway_8080', 'gateway_8443']);
    expect([...clusters.keys()]).toEqual(['outbound.orders.shop', 'outbound.payments.shop']);
    expect(translation.notes).toEqual([]);
  });

  it('terminates TLS with one chain per host name, SNI choosing the certificate', () => {
    const https = listeners.get('gateway_8443') as Json;
    const chains = https.filter_chains as Json[];
    expect(chains.map((chain) => [chain.name, chain.filter_chain_match])).toEqual([
      ['shop', { server_names: ['shop.example.com'] }],
      ['api', { server_names: ['api.example.com'] }],
    ]);
    const secretNames = chains.map(
      (chain) => (((chain.transport_socket as Json).typed_config as Json).common_tls_context as Json).tls_certificate_sds_secret_configs,
    );
    expect(secretNames).toEqual([
      [{ name: 'gateway/shop/shop-cert', sds_config: { ads: {}, resource_api_version: 'V3' } }],
      [{ name: 'gateway/shop/api-cert', sds_config: { ads: {}, resource_api_version: 'V3' } }],
    ]);
  });

  it('routes by host and path in Gateway API precedence, with splits, redirects, rewrites and header edits', () => {
    const chain = ((listeners.get('gateway_8443') as Json).filter_chains as Json[])[0] as Json;
    const manager = ((chain.filters as Json[])[0] as Json).typed_config as Json;
    const hosts = (manager.route_config as Json).virtual_hosts as Json[];
    expect(hosts.map((host) => host.domains)).toEqual([['api.example.com'], ['shop.example.com']]);
    const shop = (hosts[1] as Json).routes as Json[];
    // Exact before prefixes; longer prefixes first.
    expect(shop.map((route) => route.match)).toEqual([{ path: '/orders/special' }, { path_separated_prefix: '/orders' }, { path_separated_prefix: '/old' }]);
    expect(shop[1]).toMatchObject({
      route: {
        weighted_clusters: { clusters: [{ name: 'outbound.orders.shop', weight: { value: 9000 } }, { name: 'outbound.payments.shop', weight: { value: 1000 } }] },
        timeout: { seconds: 3 },
      },
      response_headers_to_add: [{ header: { key: 'x-served-by', value: 'edge' }, append_action: 'APPEND_IF_EXISTS_OR_ADD' }],
    });
    expect(shop[2]).toMatchObject({ redirect: { prefix_rewrite: '/orders', response_code: 'MOVED_PERMANENTLY' } });
    const api = (hosts[0] as Json).routes as Json[];
    expect(api).toMatchObject([{ match: { prefix: '/' }, route: { cluster: 'outbound.payments.shop', prefix_rewrite: '/v2' } }]);
  });

  it('produces resources that are valid Envoy protos', () => {
    const checker = new ProtoChecker();
    for (const [type, byName] of translation.resources) for (const resource of byName.values()) expect(checker.problems(type, resource)).toEqual([]);
    const gateway = input().policies.gateways[0];
    if (gateway === undefined) throw new Error('no gateway');
    const secrets = gatewayCertificateSecrets({ certificateDirectory: '/srv/certs' }, gateway);
    expect(secrets.map((secret) => secret.name)).toEqual(['gateway/shop/shop-cert', 'gateway/shop/api-cert']);
    expect(secrets[0]).toEqual({
      name: 'gateway/shop/shop-cert',
      tls_certificate: {
        certificate_chain: { filename: '/srv/certs/shop/shop-cert/tls.crt' },
        private_key: { filename: '/srv/certs/shop/shop-cert/tls.key' },
        watched_directory: { path: '/srv/certs/shop/shop-cert' },
      },
    });
    for (const secret of secrets) expect(checker.problems(TypeUrl.Secret, secret)).toEqual([]);
  });

  it('a gateway without its Gateway document serves nothing and says why', () => {
    const bare = input();
    const empty: MeshInput = { ...bare, policies: { ...bare.policies, gateways: [], httpRoutes: [] } };
    const result = new MeshTranslator().translateWithNotes(empty, 'edge-1', 'envoy');
    expect(result.resources.get(TypeUrl.Listener)?.size).toBe(0);
    expect(result.notes.map((note) => note.code)).toEqual(['GATEWAY_NOT_CONFIGURED']);
  });

  it('a changed route or backend reaches the gateway\'s input key, and only the proxies it concerns', () => {
    const base = input();
    const keys = (snapshot: MeshInput) => ({
      edge: new MeshTranslator().inputKey(snapshot, 'edge-1', 'envoy'),
      orders: new MeshTranslator().inputKey(snapshot, 'orders-1', 'envoy'),
    });
    const before = keys(base);
    const [shop, api] = base.policies.httpRoutes;
    if (shop === undefined || api === undefined) throw new Error('routes missing');
    const retargeted = { ...api, spec: { ...api.spec, rules: api.spec.rules.map((rule) => ({ ...rule, backendRefs: [{ name: 'orders', namespace: 'shop', weight: 1 }] })) } };
    const changedRoute = keys({ ...base, policies: { ...base.policies, httpRoutes: [shop, retargeted] } });
    expect(changedRoute.edge).not.toBe(before.edge);
    expect(changedRoute.orders).toBe(before.orders);
    const moved = new Map(base.workloads);
    const payments = moved.get('payments-1');
    if (payments === undefined) throw new Error('payments missing');
    moved.set('payments-1', { ...payments, address: '127.0.0.9' });
    expect(keys({ ...base, workloads: moved }).edge).not.toBe(before.edge);
  });

  it('retries as a sidecar caller would: the backends\' retry policy when they share one, none when they differ', () => {
    const shopRoutes = (snapshot: MeshInput): Json[] => {
      const listener = new MeshTranslator().translate(snapshot, 'edge-1', 'envoy').get(TypeUrl.Listener)?.get('gateway_8443') as Json;
      const manager = (((listener.filter_chains as Json[])[0] as Json).filters as Json[])[0]?.typed_config as Json;
      return (((manager.route_config as Json).virtual_hosts as Json[])[1] as Json).routes as Json[];
    };
    const retryOf = (route: Json | undefined): Json | undefined => (route?.route as Json | undefined)?.retry_policy as Json | undefined;
    const base = input();
    // No TrafficPolicy: Accord's default retries; backendRequest bounds each attempt.
    const [special, split] = shopRoutes(base);
    expect(retryOf(special)).toMatchObject({ retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: { value: 2 } });
    expect(retryOf(special)).not.toHaveProperty('per_try_timeout');
    expect(retryOf(split)).toMatchObject({ num_retries: { value: 2 }, per_try_timeout: { seconds: 3 } });
    const withPaymentsPolicy = (retries: string): MeshInput => {
      const loaded = parsePolicyStream(`apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: payments, namespace: shop }\nspec: { target: payments, retries: ${retries} }\n`, 'p');
      if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
      return { ...base, policies: { ...base.policies, trafficPolicies: loaded.policySet.trafficPolicies } };
    };
    // payments' own retries: its route uses them; the split's backends now differ, so no retries.
    const own = withPaymentsPolicy('{ attempts: 3, retryOn: [5xx] }');
    expect(retryOf(shopRoutes(own)[0])).toMatchObject({ retry_on: '5xx', num_retries: { value: 3 } });
    expect(retryOf(shopRoutes(own)[1])).toBeUndefined();
    // attempts: 0 turns retries off for the gateway too; the change reaches the gateway's input key.
    const off = withPaymentsPolicy('{ attempts: 0 }');
    expect(retryOf(shopRoutes(off)[0])).toBeUndefined();
    expect(new MeshTranslator().inputKey(off, 'edge-1', 'envoy')).not.toBe(new MeshTranslator().inputKey(base, 'edge-1', 'envoy'));
  });

  it('ordinary workloads are unaffected by gateway documents', () => {
    const orders = translator.translate(input(), 'orders-1', 'envoy');
    expect([...(orders.get(TypeUrl.Listener)?.keys() ?? [])]).toEqual(['inbound|8080']);
  });
});
