import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestAccord, type TestAccord } from './harness.js';

type Json = Record<string, unknown>;

describe('HTTP API on the embedded default (memory store)', () => {
  let accord: TestAccord;
  beforeAll(async () => {
    accord = await startTestAccord();
  });
  afterAll(async () => {
    await accord.close();
  });

  it('answers /healthz and /readyz openly with per-check status, and the details on /v1/status to operators', async () => {
    expect((await api(accord, 'GET', '/healthz', { token: null })).status).toBe(200);
    const ready = await api(accord, 'GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    const checks = (ready.body as { checks: Record<string, Json> }).checks;
    expect(Object.keys(checks)).toEqual(expect.arrayContaining(['started', 'registry', 'policies', 'ca']));
    for (const check of Object.values(checks)) expect(Object.keys(check)).toEqual(['ok']);
    expect((await api(accord, 'GET', '/v1/status', { token: null })).status).toBe(401);
    const status = (await api(accord, 'GET', '/v1/status')).body as { checks: { policies: { detail: Json } } };
    expect(status.checks.policies.detail).toHaveProperty('lastChangeOk');
  });

  it('requires the operator token on mutations: 401 without, 403 with a wrong one', async () => {
    const body = { service: 'payments', address: '127.0.0.1', port: 8080 };
    const missing = await api(accord, 'POST', '/v1/workloads', { body, token: null });
    expect(missing.status).toBe(401);
    expect((missing.body as { error: Json }).error.code).toBe('UNAUTHENTICATED');
    const wrong = await api(accord, 'POST', '/v1/workloads', { body, token: 'not-the-token' });
    expect(wrong.status).toBe(403);
    expect(accord.logs.some((line) => line.includes('not-the-token'))).toBe(false);
  });

  it('400 lists every field error of a bad registration', async () => {
    const response = await api(accord, 'POST', '/v1/workloads', {
      body: { service: 'Bad_Name', address: 'not an address', port: 70000, protocol: 'smtp', extra: 1 },
    });
    expect(response.status).toBe(400);
    const error = (response.body as { error: { code: string; details: { field: string }[] } }).error;
    expect(error.code).toBe('INVALID_ARGUMENT');
    const fields = error.details.map((d) => d.field);
    expect(fields).toEqual(expect.arrayContaining(['service', 'address', 'port', 'protocol', 'extra']));
  });

  it('400 for malformed JSON, never a 500 with a stack trace', async () => {
    const response = await api(accord, 'POST', '/v1/workloads', { body: '{"service": ' });
    expect(response.status).toBe(400);
    expect(response.text).not.toMatch(/at .*\.(js|ts):\d+/);
  });

  it('registers, lists, heartbeats and deregisters a workload', async () => {
    const created = await api(accord, 'POST', '/v1/workloads', {
      body: { service: 'payments', address: '10.0.0.7', port: 8080, ttl: '30s', labels: { version: 'v1' } },
    });
    expect(created.status).toBe(201);
    const { id, spiffeId, token } = created.body as { id: string; spiffeId: string; token: string };
    expect(id).toMatch(/^payments-[a-z0-9]+$/);
    expect(spiffeId).toBe('spiffe://mesh.local/ns/default/sa/payments');
    expect(token.split('.')).toHaveLength(3);

    const list = await api(accord, 'GET', '/v1/workloads');
    expect((list.body as { workloads: Json[] }).workloads.map((w) => w.id)).toContain(id);
    const services = await api(accord, 'GET', '/v1/services');
    expect((services.body as { services: Json[] }).services).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'payments', namespace: 'default', protocol: 'http' })]),
    );

    expect((await api(accord, 'PUT', `/v1/workloads/${id}/heartbeat`)).status).toBe(204);
    expect((await api(accord, 'DELETE', `/v1/workloads/${id}`)).status).toBe(204);
    const gone = await api(accord, 'DELETE', `/v1/workloads/${id}`);
    expect(gone.status).toBe(404);
    expect((gone.body as { error: Json }).error.code).toBe('NOT_FOUND');
    expect((await api(accord, 'PUT', `/v1/workloads/${id}/heartbeat`)).status).toBe(404);
  });

  it('applies policies all or nothing, with file:line:column errors for bad ones', async () => {
    const good = `apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: payments-callers, namespace: default }
spec:
  target: payments
  action: ALLOW
  rules:
    - from: [{ service: orders }]
`;
    const applied = await api(accord, 'PUT', '/v1/policies?allowUnknownTargets=true', { yaml: good });
    expect(applied.status).toBe(200);
    expect(applied.body).toMatchObject({ applied: true, documents: 1 });

    const bad = `${good}---
apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: broken }
spec:
  target: payments
  retries: { attempts: -1 }
`;
    const rejected = await api(accord, 'PUT', '/v1/policies?allowUnknownTargets=true', { yaml: bad });
    expect(rejected.status).toBe(400);
    const details = (rejected.body as { error: { details: { line: number; column: number; path: string }[] } }).error.details;
    expect(details.length).toBeGreaterThan(0);
    expect(details[0]).toMatchObject({ line: expect.any(Number), column: expect.any(Number) });
    expect(details.some((d) => String(d.path).includes('retries.attempts'))).toBe(true);

    const listed = await api(accord, 'GET', '/v1/policies');
    const documents = (listed.body as { documents: Json[] }).documents;
    expect(documents).toHaveLength(1);
    expect(documents[0]).toMatchObject({ kind: 'AuthorizationPolicy' });
  });

  it('a dry run shows, per affected proxy, the diff of its Envoy resources and changes nothing', async () => {
    const caller = (await api(accord, 'POST', '/v1/workloads', {
      body: { service: 'checkout', address: '10.0.0.9', port: 8080, upstreams: [{ service: 'payments', localPort: 9001 }] },
    })).body as { id: string };
    await new Promise((r) => setTimeout(r, 300));
    const before = await api(accord, 'GET', '/v1/policies');
    const policy = `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments-timeouts, namespace: default }
spec:
  target: payments
  connectTimeout: 2s
  requestTimeout: 3s
`;
    const dry = await api(accord, 'PUT', '/v1/policies?dryRun=true&allowUnknownTargets=true', { yaml: policy });
    expect(dry.status, dry.text).toBe(200);
    const body = dry.body as { applied: boolean; diffs: { proxy: string; diff: string }[] };
    expect(body.applied).toBe(false);
    const diff = body.diffs.find((d) => d.proxy === caller.id)?.diff ?? '';
    // connect_timeout 5s (default) becomes 2s; the route timeout 0 (none) becomes 3s.
    expect(diff).toMatch(/^-\s+seconds: 5$/m);
    expect(diff).toMatch(/^\+\s+seconds: 2$/m);
    expect(diff).toMatch(/^\+\s+seconds: 3$/m);
    expect((await api(accord, 'GET', '/v1/policies')).body).toEqual(before.body);
  });

  it('serves the trust bundle and the CA status', async () => {
    const bundle = await api(accord, 'GET', '/v1/ca/bundle');
    expect(bundle.status).toBe(200);
    expect(bundle.text).toContain('-----BEGIN CERTIFICATE-----');
    expect((await api(accord, 'GET', '/v1/ca')).status).toBe(200);
  });

  it('exposes Prometheus metrics, including the xDS ones', async () => {
    const metrics = await api(accord, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('accord_xds_');
    expect(metrics.text).toContain('accord_process_');
  });

  it('refuses a Mesh that asks for another trust domain than the CA serves, naming the field and the reason', async () => {
    const mesh = 'apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\nspec:\n  trustDomain: other.example\n';
    const refused = await api(accord, 'PUT', '/v1/policies', { yaml: mesh });
    expect(refused.status).toBe(400);
    const details = (refused.body as { error: { details: { line: number; column: number; path: string; message: string }[] } }).error.details;
    expect(details).toEqual([expect.objectContaining({ line: 5, column: 16, path: 'spec.trustDomain', message: expect.stringContaining('the CA serves trust domain "mesh.local"') })]);
    const registered = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'late', address: '10.0.0.8', port: 80 } })).body as { spiffeId: string };
    expect(registered.spiffeId).toBe('spiffe://mesh.local/ns/default/sa/late');
    // Leaving trustDomain out (or naming the CA's) is fine.
    expect((await api(accord, 'POST', '/v1/policies:apply', { yaml: mesh.replace('other.example', 'mesh.local') })).status).toBe(200);
  });

  it('answers unknown routes with a JSON 404', async () => {
    const response = await api(accord, 'GET', '/v1/nothing-here');
    expect(response.status).toBe(404);
    expect((response.body as { error: Json }).error.code).toBe('NOT_FOUND');
  });
});
