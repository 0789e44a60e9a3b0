import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PolicySet } from '../../src/core/policy.js';
import { documentsToJson, loadPolicyDirectory, loadPolicyFile, loadPolicyPath, parsePolicyDocuments, parsePolicyStream } from '../../src/config/index.js';
import { expectLoaded } from './helpers.js';

const VALID_DIR = join('test', 'config', 'valid');

const EXPECTED: PolicySet = {
  mesh: {
    trustDomain: 'prod.example.org',
    mtls: 'PERMISSIVE',
    certificates: { ttlMs: 90 * 60_000, rotateAt: 0.5, jitter: 0.1 },
    allowAnonymousConfig: false,
    debounce: { quietMs: 250, maxDelayMs: 250 },
  },
  trafficPolicies: [
    {
      kind: 'TrafficPolicy',
      metadata: { name: 'orders', namespace: 'default' },
      spec: {
        target: 'orders',
        retries: { attempts: 2, retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled'] },
        loadBalancer: { type: 'LEAST_REQUEST' },
      },
    },
    {
      kind: 'TrafficPolicy',
      metadata: { name: 'payments', namespace: 'shop' },
      spec: {
        target: 'payments',
        connectTimeoutMs: 250,
        requestTimeoutMs: 90_000,
        retries: { attempts: 3, perTryTimeoutMs: 1500, retryOn: ['5xx', 'unavailable'] },
        loadBalancer: { type: 'RING_HASH', hashKey: { header: 'x-user-id' } },
        circuitBreakers: { maxConnections: 100, maxRetries: 0 },
        outlierDetection: { consecutive5xx: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 50 },
        split: [
          { name: 'stable', labels: { version: 'v1' }, weight: 90 },
          { name: 'canary', labels: { version: 'v2', track: 'canary' }, weight: 10 },
        ],
      },
    },
  ],
  authorizationPolicies: [
    {
      kind: 'AuthorizationPolicy',
      metadata: { name: 'no-deletes', namespace: 'shop' },
      spec: { target: 'payments', action: 'DENY', rules: [{ to: [{ methods: ['DELETE'] }] }] },
    },
    {
      kind: 'AuthorizationPolicy',
      metadata: { name: 'payments-callers', namespace: 'shop' },
      spec: {
        target: 'payments',
        action: 'ALLOW',
        rules: [
          {
            from: [
              { service: 'orders', namespace: 'shop' },
              { service: 'billing', namespace: 'finance' },
            ],
            to: [{ methods: ['POST'], paths: ['/payments.Payments/*'] }],
          },
          { from: [{ namespace: 'ops' }, { spiffeId: 'spiffe://prod.example.org/ns/tools/sa/debugger' }] },
          {},
        ],
      },
    },
  ],
  upstreamPolicies: [
    {
      kind: 'UpstreamPolicy',
      metadata: { name: 'orders-upstreams', namespace: 'default' },
      spec: {
        source: 'orders',
        upstreams: [
          { service: 'payments', namespace: 'shop', localPort: 9001 },
          { service: 'inventory', namespace: 'default', localPort: 9002 },
        ],
      },
    },
  ],
  gateways: [
    {
      kind: 'Gateway',
      metadata: { name: 'edge', namespace: 'shop' },
      spec: {
        gatewayClassName: 'accord',
        listeners: [
          {
            name: 'shop-https',
            hostname: 'shop.example.com',
            port: 8443,
            protocol: 'HTTPS',
            tls: { mode: 'Terminate', certificateRefs: [{ name: 'shop-example-com', namespace: 'shop' }] },
          },
          // tls.mode defaults to Terminate; a certificate may live in another namespace.
          {
            name: 'api-https',
            hostname: 'api.example.com',
            port: 8443,
            protocol: 'HTTPS',
            tls: { mode: 'Terminate', certificateRefs: [{ name: 'api-example-com', namespace: 'certs' }] },
          },
          { name: 'plain', port: 8080, protocol: 'HTTP' },
        ],
      },
    },
  ],
  httpRoutes: [
    {
      kind: 'HTTPRoute',
      metadata: { name: 'shop', namespace: 'shop' },
      spec: {
        parentRefs: [{ name: 'edge', namespace: 'shop', sectionName: 'shop-https' }],
        hostnames: ['shop.example.com'],
        rules: [
          {
            matches: [
              { path: { type: 'PathPrefix', value: '/orders' }, method: 'GET' },
              // Header names are case-insensitive: kept lower-case.
              { path: { type: 'Exact', value: '/checkout' }, headers: [{ type: 'Exact', name: 'x-canary', value: 'yes' }] },
            ],
            filters: [
              { type: 'RequestHeaderModifier', requestHeaderModifier: { add: [{ name: 'x-entry', value: 'edge' }], remove: ['x-debug'] } },
              { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'strict-transport-security', value: 'max-age=31536000' }] } },
            ],
            backendRefs: [
              { name: 'orders', namespace: 'shop', port: 8080, weight: 90 },
              { name: 'orders-canary', namespace: 'shop', weight: 10 },
            ],
            timeouts: { requestMs: 10_000, backendRequestMs: 2000 },
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/old-shop' } }],
            filters: [
              {
                type: 'RequestRedirect',
                requestRedirect: { hostname: 'shop.example.com', path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/orders' }, statusCode: 301 },
              },
            ],
            backendRefs: [],
          },
          {
            matches: [{ path: { type: 'PathPrefix', value: '/v1' } }],
            filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/api' } } }],
            // weight defaults to 1
            backendRefs: [{ name: 'payments', namespace: 'shop', weight: 1 }],
          },
        ],
      },
    },
  ],
};

describe('valid policy corpus', () => {
  it('loads the directory into the expected PolicySet, defaults applied, non-policy and hidden files ignored', async () => {
    const result = expectLoaded(await loadPolicyDirectory(VALID_DIR));
    expect(result.policySet).toEqual(EXPECTED);
    // Documents keep file-name order, then order within each file.
    expect(result.documents.map((document) => `${document.kind}/${document.metadata.name}`)).toEqual([
      'AuthorizationPolicy/payments-callers',
      'AuthorizationPolicy/no-deletes',
      'Gateway/edge',
      'HTTPRoute/shop',
      'Mesh/default',
      'TrafficPolicy/payments',
      'TrafficPolicy/orders',
      'UpstreamPolicy/orders-upstreams',
    ]);
  });

  it('loadPolicyPath accepts the directory or one of its files', async () => {
    expect(expectLoaded(await loadPolicyPath(VALID_DIR)).policySet).toEqual(EXPECTED);
    const fromFile = expectLoaded(await loadPolicyPath(join(VALID_DIR, 'traffic.yaml')));
    expect(fromFile.policySet.trafficPolicies).toEqual(EXPECTED.trafficPolicies);
  });

  it('round-trips through documentsToJson and parsePolicyDocuments (as another replica would)', async () => {
    const loaded = expectLoaded(await loadPolicyDirectory(VALID_DIR));
    const stored: unknown = JSON.parse(JSON.stringify(documentsToJson(loaded.documents)));
    const reparsed = expectLoaded(parsePolicyDocuments(stored as unknown[], 'store'));
    // Only where the documents came from differs.
    expect({ documents: reparsed.documents, policySet: reparsed.policySet }).toEqual({ documents: loaded.documents, policySet: loaded.policySet });
    expect(reparsed.located.map((item) => item.source.file)).toEqual(loaded.documents.map(() => 'store'));
  });

  it('round-trips through a JSON array body given to parsePolicyStream', async () => {
    const loaded = expectLoaded(await loadPolicyDirectory(VALID_DIR));
    const body = JSON.stringify(documentsToJson(loaded.documents), null, 2);
    const reparsed = expectLoaded(parsePolicyStream(body, 'PUT /v1/policies'));
    expect({ documents: reparsed.documents, policySet: reparsed.policySet }).toEqual({ documents: loaded.documents, policySet: loaded.policySet });
  });

  it('writes durations back in the operator format', async () => {
    const loaded = expectLoaded(await loadPolicyFile(join(VALID_DIR, 'traffic.yaml')));
    const [payments] = documentsToJson(loaded.documents);
    expect(payments?.spec).toMatchObject({
      connectTimeout: '250ms',
      requestTimeout: '1m30s',
      retries: { attempts: 3, perTryTimeout: '1s500ms' },
      outlierDetection: { interval: '10s', baseEjectionTime: '30s' },
    });
  });
});
