import { describe, expect, it } from 'vitest';
import { DEFAULT_MESH } from '../../src/core/policy.js';
import {
  checkKnownServices,
  formatPolicyError,
  loadPolicyDirectory,
  loadPolicyPath,
  parsePolicyDocuments,
  parsePolicyStream,
} from '../../src/config/index.js';
import { expectLoaded } from './helpers.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TRAFFIC = `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments }
spec: { target: payments, connectTimeout: 2s }
`;

describe('parsePolicyStream', () => {
  it('defaults the namespace and the Mesh when none is given', () => {
    const result = expectLoaded(parsePolicyStream(TRAFFIC, 'body'));
    expect(result.policySet.mesh).toEqual(DEFAULT_MESH);
    expect(result.documents).toEqual([
      { kind: 'TrafficPolicy', metadata: { name: 'payments', namespace: 'default' }, spec: { target: 'payments', connectTimeoutMs: 2000 } },
    ]);
  });

  it('fills every Mesh field from DEFAULT_MESH, with or without a spec', () => {
    const withoutSpec = expectLoaded(parsePolicyStream('apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\n', 'body'));
    expect(withoutSpec.policySet.mesh).toEqual(DEFAULT_MESH);
    const emptySpec = expectLoaded(parsePolicyStream('apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\nspec: {}\n', 'body'));
    expect(emptySpec.policySet.mesh).toEqual(DEFAULT_MESH);
    const partial = expectLoaded(
      parsePolicyStream('apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: m }\nspec: { certificates: { jitter: 0 }, allowAnonymousConfig: true }\n', 'body'),
    );
    expect(partial.policySet.mesh).toEqual({
      ...DEFAULT_MESH,
      certificates: { ...DEFAULT_MESH.certificates, jitter: 0 },
      allowAnonymousConfig: true,
    });
  });

  it('is all-or-nothing: one bad document rejects the whole stream', () => {
    const result = parsePolicyStream(`${TRAFFIC}---\napiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: orders }\nspec: { target: orders, retries: { attempts: -1 } }\n`, 'body');
    expect(result).toEqual({
      ok: false,
      errors: [
        {
          file: 'body',
          line: 9,
          column: 46,
          path: 'spec.retries.attempts',
          message: 'expected a non-negative integer, got -1',
          document: 1,
        },
      ],
    });
  });

  it('reads a JSON array of documents with positions in the JSON text', () => {
    const body = JSON.stringify(
      [
        { apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'a' }, spec: { target: 'a' } },
        { apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'b' }, spec: { target: 'b', requestTimeout: 'soon' } },
      ],
      null,
      2,
    );
    const result = parsePolicyStream(body, 'PUT /v1/policies');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const line = body.split('\n').findIndex((text) => text.includes('"soon"')) + 1;
    const column = (body.split('\n')[line - 1] ?? '').indexOf('"soon"') + 1;
    expect(result.errors.map(formatPolicyError)).toEqual([
      `PUT /v1/policies:${line}:${column}: spec.requestTimeout: expected a duration such as "250ms", "30s", "5m" or "1h30m", got "soon"`,
    ]);
  });

  it('accepts an empty stream as an empty set', () => {
    const result = expectLoaded(parsePolicyStream('# nothing yet\n', 'body'));
    expect(result.documents).toEqual([]);
    expect(result.policySet).toEqual({ mesh: DEFAULT_MESH, trafficPolicies: [], authorizationPolicies: [], upstreamPolicies: [], gateways: [], httpRoutes: [] });
  });

  it('resolves YAML aliases but refuses alias bombs', () => {
    const aliased = `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: a }
spec:
  target: a
  split:
    - { name: one, labels: &l { app: a }, weight: 50 }
    - { name: two, labels: *l, weight: 50 }
`;
    const result = expectLoaded(parsePolicyStream(aliased, 'body'));
    expect(result.policySet.trafficPolicies[0]?.spec.split?.[1]?.labels).toEqual({ app: 'a' });

    const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 8; level += 1) levels.push(`l${level}: &l${level} [${Array(10).fill(level === 1 ? '*a' : `*l${level - 1}`).join(', ')}]`);
    const bomb = parsePolicyStream(`${levels.join('\n')}\n`, 'bomb');
    expect(bomb.ok).toBe(false);
    if (!bomb.ok) expect(bomb.errors[0]?.message).toContain('YAML error');
  });
});

describe('parsePolicyDocuments', () => {
  it('validates stored values and names the document when positions are unknown', () => {
    const result = parsePolicyDocuments(
      [
        { apiVersion: 'accord.dev/v1', kind: 'Mesh', metadata: { name: 'default' }, spec: {} },
        { apiVersion: 'accord.dev/v1', kind: 'AuthorizationPolicy', metadata: { name: 'x' }, spec: { target: 'x', action: 'ALLOW', rules: 'all' } },
      ],
      'redis',
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { file: 'redis', line: 0, column: 0, path: 'spec.rules', message: 'expected a list of rules, got "all"', document: 1 },
    ]);
    expect(formatPolicyError(result.errors[0]!)).toBe('redis: document 2: spec.rules: expected a list of rules, got "all"');
  });
});

describe('checkKnownServices', () => {
  it('lists references to services that do not exist, for the caller to enforce or only report', () => {
    const { documents } = expectLoaded(
      parsePolicyStream(
        `${TRAFFIC}---
apiVersion: accord.dev/v1
kind: UpstreamPolicy
metadata: { name: orders, namespace: shop }
spec: { source: orders, upstreams: [{ service: payments, namespace: default, localPort: 9001 }, { service: ledger, localPort: 9002 }] }
`,
        'body',
      ),
    );
    const errors = checkKnownServices(documents, new Set(['default/payments', 'shop/orders']));
    expect(errors.map(formatPolicyError)).toEqual([
      'policies: document 2: spec.upstreams[1].service: unknown service "shop/ledger": not registered and named by no other policy; ' +
        'if intended, annotate accord.dev/allow-unknown-targets: "true" or use --allow-unknown-targets',
    ]);
    expect(checkKnownServices(documents, new Set(['default/payments', 'shop/orders', 'shop/ledger']))).toEqual([]);
  });
});

describe('cross-document rules', () => {
  it('rejects one local port used twice for the same source across documents', () => {
    const upstream = (name: string, service: string) => `apiVersion: accord.dev/v1
kind: UpstreamPolicy
metadata: { name: ${name} }
spec:
  source: orders
  upstreams: [{ service: ${service}, localPort: 9001 }]
`;
    const result = parsePolicyStream(`${upstream('one', 'payments')}---\n${upstream('two', 'ledger')}`, 'body');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map(formatPolicyError)).toEqual([
      'body:13:45: spec.upstreams[0].localPort: localPort 9001 for source "orders" is already used at body:6:47',
    ]);
  });
});

describe('loading from disk', () => {
  it('reports a path that cannot be read', async () => {
    const missing = join(tmpdir(), 'accord-config-does-not-exist', 'policies');
    const result = await loadPolicyPath(missing);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toHaveLength(1);
      expect(result.errors[0]).toMatchObject({ file: missing, line: 0, path: '' });
      expect(result.errors[0]?.message).toContain('ENOENT');
    }
  });

  it('reports every error of every file in file order, rules across files included, naming the other file', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'accord-config-many-'));
    try {
      const mesh = 'apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\n';
      await writeFile(join(directory, 'b-mesh.yaml'), mesh);
      await writeFile(join(directory, 'a-mesh.yml'), mesh);
      await writeFile(join(directory, 'c-bad.yaml'), TRAFFIC.replace('2s', '2 s'));
      const result = await loadPolicyDirectory(directory);
      expect(result.ok ? [] : result.errors.map(formatPolicyError)).toEqual([
        `${join(directory, 'b-mesh.yaml')}:2:7: kind: at most one Mesh document is allowed; another one is at ${join(directory, 'a-mesh.yml')}:2:7`,
        `${join(directory, 'c-bad.yaml')}:4:43: spec.connectTimeout: expected a duration such as "250ms", "30s", "5m" or "1h30m", got "2 s"`,
      ]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('loads an empty directory as the default set', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'accord-config-empty-'));
    try {
      const result = expectLoaded(await loadPolicyDirectory(directory));
      expect(result.policySet.mesh).toEqual(DEFAULT_MESH);
      expect(result.documents).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
