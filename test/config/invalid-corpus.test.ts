import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, type PolicyError } from '../../src/config/index.js';

const INVALID_DIR = join('test', 'config', 'invalid');

/** [line, column, path, message fragment] */
type Expected = readonly [number, number, string, string];

interface Case {
  readonly expected: readonly Expected[];
  readonly knownServices?: readonly string[];
}

const CASES: Record<string, Case> = {
  'syntax.yaml': {
    expected: [
      [6, 48, '', 'YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ]'],
      [6, 49, '', 'YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }'],
    ],
  },
  'duplicate-key.yaml': { expected: [[7, 3, '', 'YAML syntax error: Map keys must be unique']] },
  'unknown-top-level.yaml': { expected: [[7, 1, 'status', 'unknown field "status"']] },
  'unknown-metadata.yaml': { expected: [[6, 3, 'metadata.labels', 'unknown field "labels"']] },
  'unknown-spec.yaml': { expected: [[6, 3, 'spec.timeout', 'unknown field "timeout"']] },
  'unknown-nested.yaml': {
    expected: [
      [8, 5, 'spec.retries.backoff', 'unknown field "backoff"'],
      [11, 32, 'spec.loadBalancer.hashKey.cookie', 'unknown field "cookie"'],
    ],
  },
  'wrong-types.yaml': {
    expected: [
      [5, 16, 'spec.trustDomain', 'expected a trust domain'],
      [6, 25, 'spec.allowAnonymousConfig', 'expected true or false, got "yes"'],
      [8, 15, 'spec.certificates.rotateAt', 'expected a number between 0 and 1 (exclusive), got 1.5'],
      [16, 15, 'spec.retries.attempts', 'expected a non-negative integer, got "three"'],
      [17, 20, 'spec.circuitBreakers', 'expected a mapping, got 100'],
      [18, 3, 'spec.split', 'expected a list of subsets, got a mapping'],
    ],
  },
  'bad-enum.yaml': {
    expected: [
      [6, 11, 'spec.action', 'expected one of ALLOW, DENY, got "PERMIT"'],
      [8, 24, 'spec.rules[0].to[0].methods[0]', 'got "FETCH"'],
      [14, 9, 'spec.mtls', 'expected one of STRICT, PERMISSIVE, got "OPTIONAL"'],
      [21, 25, 'spec.loadBalancer.type', 'expected one of ROUND_ROBIN, LEAST_REQUEST, RING_HASH, got "RANDOM"'],
      [22, 42, 'spec.retries.retryOn[1]', 'got "sometimes"'],
    ],
  },
  'bad-duration.yaml': {
    expected: [
      [6, 19, 'spec.connectTimeout', 'expected a duration such as "250ms", "30s", "5m" or "1h30m", got 5'],
      [7, 19, 'spec.requestTimeout', 'got "5 seconds"'],
      [10, 20, 'spec.retries.perTryTimeout', 'units must appear once each, largest first'],
      [12, 15, 'spec.outlierDetection.interval', 'expected a duration greater than 0, got "0s"'],
      [18, 24, 'spec.certificates.ttl', 'is not a whole number of milliseconds'],
      [19, 36, 'spec.debounce.maxDelay', 'maxDelay (1000ms) must not be shorter than quiet (2000ms)'],
    ],
  },
  'missing-required.yaml': {
    expected: [
      [3, 1, 'metadata.name', 'required field is missing'],
      [4, 1, 'spec.target', 'required field is missing'],
      [10, 1, 'spec.rules', 'required field is missing'],
      [13, 1, 'spec', 'required field is missing'],
      [17, 1, 'apiVersion', 'required field is missing'],
    ],
  },
  'bad-envelope.yaml': {
    expected: [
      [1, 13, 'apiVersion', 'expected "accord.dev/v1" or "gateway.networking.k8s.io/v1", got "accord.dev/v2"'],
      [2, 7, 'kind', 'expected one of Mesh, TrafficPolicy, AuthorizationPolicy, UpstreamPolicy, Gateway, HTTPRoute, got "RateLimit"'],
      [6, 1, '', 'expected a policy document (a mapping with apiVersion, kind, metadata and spec), got "just a string"'],
      [12, 3, '', 'expected a policy document (a mapping with apiVersion, kind, metadata and spec), got 7'],
    ],
  },
  'bad-rules.yaml': {
    expected: [
      [8, 40, 'spec.rules[0].from[0].spiffeId', 'spiffeId cannot be combined with service or namespace'],
      [9, 11, 'spec.rules[0].from[1]', 'expected one of service, namespace or spiffeId'],
      [10, 23, 'spec.rules[0].from[2].spiffeId', 'expected a SPIFFE ID'],
      [12, 21, 'spec.rules[0].to[0].paths[0]', '"*" allowed only at the end, got "/a/*/b"'],
      [19, 3, 'spec.loadBalancer.hashKey', 'RING_HASH needs a hashKey'],
      [28, 36, 'spec.upstreams[1].localPort', 'localPort 9001 is already used (also upstreams[0])'],
      [29, 36, 'spec.upstreams[2].localPort', 'expected an integer from 1 to 65535, got 70000'],
    ],
  },
  'two-mesh.yaml': {
    expected: [[7, 7, 'kind', 'at most one Mesh document is allowed; another one is at test/config/invalid/two-mesh.yaml:2:7']],
  },
  'conflicting-traffic.yaml': {
    expected: [
      [12, 11, 'spec.target', 'service "shop/payments" already has a TrafficPolicy (at test/config/invalid/conflicting-traffic.yaml:5:11)'],
    ],
  },
  'duplicate-name.yaml': {
    expected: [[10, 19, 'metadata.name', 'duplicate AuthorizationPolicy "default/callers"; the first is at test/config/invalid/duplicate-name.yaml:3:19']],
  },
  'split-weights.yaml': {
    expected: [
      [6, 3, 'spec.split', 'split weights must sum to 100, got 90'],
      [17, 15, 'spec.split[1].name', 'duplicate subset name "stable" (also split[0])'],
    ],
  },
  // Gateway API fields Accord does not implement are refused by name, never ignored.
  'gateway.yaml': {
    expected: [
      [7, 3, 'spec.addresses', "addresses (the gateway listens where its Envoy runs) is not supported by Accord's gateway"],
      [11, 17, 'spec.listeners[0].protocol', "protocol TLS is not supported by Accord's gateway, which serves HTTP and HTTPS"],
      [13, 17, 'spec.listeners[1].hostname', 'expected a lower-case host name such as "shop.example.com" or "*.example.com", got "Shop.Example.com"'],
      [17, 15, 'spec.listeners[1].tls.mode', "tls.mode Passthrough is not supported by Accord's gateway"],
      [18, 9, 'spec.listeners[1].tls.certificateRefs', 'one certificate per listener is supported'],
      [19, 7, 'spec.listeners[2].tls', 'an HTTPS listener needs tls.certificateRefs'],
      [25, 7, 'spec.listeners[3].allowedRoutes', "allowedRoutes (routes attach from any namespace by parentRefs) is not supported by Accord's gateway"],
      [27, 13, 'apiVersion', 'expected "gateway.networking.k8s.io/v1", got "accord.dev/v1"'],
      [46, 44, 'spec.rules[0].matches[0].path.value', 'expected a path starting with "/", without spaces, "?" or "#", got "no-slash"'],
      [47, 11, 'spec.rules[0].matches[0].queryParams', "queryParams matches is not supported by Accord's gateway"],
      [48, 43, 'spec.rules[0].backendRefs[0].kind', 'only kind "Service" is supported, got "ConfigMap"'],
      [50, 17, 'spec.rules[1].filters[0].type', "filter type RequestMirror is not supported by Accord's gateway (supported: RequestHeaderModifier"],
      [51, 11, 'spec.rules[1].filters[0].requestMirror', "requestMirror is not supported by Accord's gateway"],
      [53, 42, 'spec.rules[1].filters[1].requestRedirect.statusCode', 'expected 301 or 302'],
      [57, 25, 'spec.rules[2].filters[0].urlRewrite.path.replaceFullPath', 'type ReplaceFullPath needs replaceFullPath'],
      [59, 48, 'spec.rules[2].timeouts.backendRequest', 'backendRequest must not be longer than request'],
    ],
  },
  'gateway-refs.yaml': {
    expected: [
      [9, 15, 'spec.listeners[1].name', 'duplicate listener name "web" (also listeners[0])'],
      [19, 7, 'spec.listeners[1].hostname', 'port 8080 already has a listener for any host name (listeners[0])'],
      [19, 40, 'spec.listeners[1].protocol', 'port 8080 is already HTTP (listeners[0]); one port serves one protocol'],
      [20, 7, 'spec.listeners[2].hostname', 'port 8080 already has a listener for any host name (listeners[0])'],
      [35, 7, 'spec.rules[0].backendRefs', 'a rule with a RequestRedirect sends no request to backends; remove backendRefs'],
      [36, 7, 'spec.rules[1].backendRefs', 'expected at least one backendRef with a weight above 0 (or a RequestRedirect filter)'],
      [42, 11, 'spec.rules[2].filters[1].requestHeaderModifier', 'expected at least one of set, add or remove'],
      [45, 7, 'spec.rules[3].filters', 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match'],
    ],
  },
  'gateway-parents.yaml': {
    expected: [
      [16, 13, 'spec.parentRefs[0].name', 'no Gateway "default/egde" in the policy set'],
      [18, 20, 'spec.parentRefs[1].sectionName', 'Gateway "default/edge" has no listener matching this parentRef; its listeners: web (port 8080)'],
      [20, 13, 'spec.parentRefs[2].port', 'Gateway "default/edge" has no listener matching this parentRef'],
    ],
  },
  'locality.yaml': {
    expected: [
      [8, 15, 'spec.locality.distribute[0].from', 'locality pattern "eu/*/a" "*" may only be the last part'],
      [11, 24, 'spec.locality.distribute[1].to.us//x', 'locality pattern "us//x" part "" is not a valid region'],
      [13, 9, 'spec.locality.distribute[2].to', 'distribute percentages must sum to 100, got 90'],
      [14, 15, 'spec.locality.distribute[3].from', 'duplicate from "*" (also distribute[1])'],
      [24, 25, 'spec.locality.failover[0].to', 'a region cannot fail over to itself ("eu")'],
      [25, 17, 'spec.locality.failover[1].from', 'expected a region name, got "us/east"'],
      [26, 17, 'spec.locality.failover[2].from', 'duplicate from "eu" (also failover[0])'],
      [35, 5, 'spec.locality.failover', 'failover has no effect with enabled: false'],
      [45, 5, 'spec.locality.weights', 'unknown field "weights"'],
      [54, 5, 'spec.locality.failover', 'set distribute or failover, not both'],
    ],
  },
  'unknown-service.yaml': {
    knownServices: ['default/orders', 'shop/orders'],
    expected: [
      [5, 11, 'spec.target', 'unknown service "default/payments"'],
      [11, 11, 'spec.target', 'unknown service "shop/payments"'],
      [20, 18, 'spec.upstreams[0].service', 'unknown service "finance/ledger"'],
    ],
  },
};

function matches(error: PolicyError, [line, column, path, fragment]: Expected): boolean {
  return error.line === line && error.column === column && error.path === path && error.message.includes(fragment);
}

describe('invalid policy corpus', () => {
  it('has an expectation for every file in the corpus, and a file for every expectation', () => {
    expect(readdirSync(INVALID_DIR).sort()).toEqual(Object.keys(CASES).sort());
  });

  for (const [name, { expected, knownServices }] of Object.entries(CASES)) {
    it(`${name}: reports exactly its errors, with positions`, async () => {
      const file = join(INVALID_DIR, name);
      const result = await loadPolicyFile(file, knownServices ? { knownServices: new Set(knownServices) } : undefined);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      for (const error of result.errors) expect(error.file).toBe(file);
      const unmatched = result.errors.filter((error) => !expected.some((entry) => matches(error, entry)));
      const missing = expected.filter((entry) => !result.errors.some((error) => matches(error, entry)));
      expect({ unmatched, missing }).toEqual({ unmatched: [], missing: [] });
      expect(result.errors).toHaveLength(expected.length);
    });
  }

  it('unknown-service.yaml is valid when the service check is not asked for', async () => {
    const result = await loadPolicyFile(join(INVALID_DIR, 'unknown-service.yaml'));
    expect(result.ok).toBe(true);
  });
});
