import { describe, expect, it } from 'vitest';
import { parseRegistration } from '../../src/registry/registration.js';
import { EMPTY_POLICY_SET, parsePolicyStream } from '../../src/config/index.js';
import { DEFAULT_MESH } from '../../src/core/policy.js';
import { expectLoaded } from './helpers.js';

function traffic(spec: string): string {
  return `apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: p }\nspec: { target: svc, ${spec} }\n`;
}

function authorization(rules: string): string {
  return `apiVersion: accord.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: a, namespace: shop }\nspec: { target: svc, rules: ${rules} }\n`;
}

/** `path: message` of each error, for compact expectations (positions are tested elsewhere). */
function problems(text: string): string[] {
  const result = parsePolicyStream(text, 'f');
  return result.ok ? [] : result.errors.map((error) => `${error.path}: ${error.message}`);
}

describe('TrafficPolicy rules', () => {
  it('hashes on a lower-cased header or on the source address', () => {
    const byHeader = expectLoaded(parsePolicyStream(traffic('loadBalancer: { type: RING_HASH, hashKey: { header: X-Session } }'), 'f'));
    expect(byHeader.policySet.trafficPolicies[0]?.spec.loadBalancer).toEqual({ type: 'RING_HASH', hashKey: { header: 'x-session' } });
    const bySource = expectLoaded(parsePolicyStream(traffic('loadBalancer: { type: RING_HASH, hashKey: { sourceIp: true } }'), 'f'));
    expect(bySource.policySet.trafficPolicies[0]?.spec.loadBalancer).toEqual({ type: 'RING_HASH', hashKey: { sourceIp: true } });
  });

  it('rejects hash keys that are ambiguous, empty or on the wrong balancer', () => {
    expect(problems(traffic('loadBalancer: { type: RING_HASH, hashKey: { header: a, sourceIp: true } }'))).toEqual([
      'spec.loadBalancer.hashKey: set exactly one of header or sourceIp: true',
    ]);
    expect(problems(traffic('loadBalancer: { type: RING_HASH, hashKey: { sourceIp: false } }'))).toEqual([
      'spec.loadBalancer.hashKey.sourceIp: expected true (hash on the caller\'s address), got false',
    ]);
    expect(problems(traffic('loadBalancer: { type: ROUND_ROBIN, hashKey: { header: a } }'))).toEqual([
      'spec.loadBalancer.hashKey: hashKey applies only to RING_HASH, not ROUND_ROBIN',
    ]);
  });

  it('rejects empty lists where a list must say something', () => {
    expect(problems(traffic('split: []'))).toEqual(['spec.split: expected a non-empty list of subsets, got an empty list']);
    expect(problems(traffic('retries: { attempts: 1, retryOn: [] }'))).toEqual([
      'spec.retries.retryOn: expected a non-empty list of retry conditions, got an empty list',
    ]);
  });

  it('accepts retries: { attempts: 0 }, which turns off the default retries', () => {
    const result = expectLoaded(parsePolicyStream(traffic('retries: { attempts: 0 }'), 'f'));
    expect(result.policySet.trafficPolicies[0]?.spec.retries?.attempts).toBe(0);
  });

  it('accepts a weight of 0 (a subset kept warm but sent nothing) when the rest sum to 100', () => {
    const result = expectLoaded(
      parsePolicyStream(traffic('split: [{ name: a, labels: { v: "1" }, weight: 100 }, { name: b, labels: { v: "2" }, weight: 0 }]'), 'f'),
    );
    expect(result.policySet.trafficPolicies[0]?.spec.split?.map((subset) => subset.weight)).toEqual([100, 0]);
  });
});

describe('AuthorizationPolicy rules', () => {
  it('defaults action to ALLOW and a caller service namespace to the policy namespace', () => {
    const result = expectLoaded(parsePolicyStream(authorization('[{ from: [{ service: orders }, { namespace: ops }] }]'), 'f'));
    expect(result.policySet.authorizationPolicies[0]?.spec).toEqual({
      target: 'svc',
      action: 'ALLOW',
      rules: [{ from: [{ service: 'orders', namespace: 'shop' }, { namespace: 'ops' }] }],
    });
  });

  it('accepts an empty rule list (matches nothing) and rejects a missing one', () => {
    expect(expectLoaded(parsePolicyStream(authorization('[]'), 'f')).policySet.authorizationPolicies[0]?.spec.rules).toEqual([]);
    expect(problems('apiVersion: accord.dev/v1\nkind: AuthorizationPolicy\nmetadata: { name: a }\nspec: { target: svc }\n')).toEqual([
      'spec.rules: required field is missing',
    ]);
  });
});

describe('Mesh rules', () => {
  it('rejects a jitter that could push rotation past expiry', () => {
    expect(problems('apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: m }\nspec: { certificates: { rotateAt: 0.95 } }\n')).toEqual([
      'spec.certificates.rotateAt: rotateAt + jitter (0.95 + 0.1) must stay below 1, or a certificate could expire before it is rotated',
    ]);
  });

  it('rejects a trust domain that is not a SPIFFE trust domain', () => {
    expect(problems('apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: m }\nspec: { trustDomain: Mesh.Local }\n')).toEqual([
      'spec.trustDomain: expected a trust domain (lowercase letters, digits, ".", "-", "_"), e.g. "mesh.local", got "Mesh.Local"',
    ]);
  });
});

describe('names', () => {
  it('rejects names that cannot appear in cluster names or SPIFFE IDs', () => {
    expect(problems('apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: "my policy", namespace: "-x" }\nspec: { target: "a/b" }\n')).toEqual([
      expect.stringMatching(/^metadata\.name: expected a DNS-1123 subdomain.*got "my policy"$/),
      expect.stringMatching(/^metadata\.namespace: expected a DNS-1123 label.*got "-x"$/),
      expect.stringMatching(/^spec\.target: expected a DNS-1123 label.*got "a\/b"$/),
    ]);
  });

  it('holds service names to the rule registration uses, so a policy cannot name a service nobody can register', () => {
    for (const service of ['Payments', 'pay_ments', 'payments.v1', 'a'.repeat(64), 'payments', 'pay-ments-2']) {
      const registration = parseRegistration({ service, address: '10.0.0.1', port: 80 }, () => 'x1');
      const policy = problems(`apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: p }\nspec: { target: "${service}" }\n`);
      expect(policy.length === 0, `${service}: policy ${JSON.stringify(policy)}`).toBe(registration.ok);
    }
  });
});

describe('EMPTY_POLICY_SET', () => {
  it('is what an empty change produces', () => {
    expect(expectLoaded(parsePolicyStream('', 'f')).policySet).toEqual(EMPTY_POLICY_SET);
    expect(EMPTY_POLICY_SET.mesh).toBe(DEFAULT_MESH);
  });
});
