/**
 * `accord describe` as a process against a real `accord serve`: the mTLS mode, the policies that
 * name a service, who may call it (allowed, some requests only, denied) and whom it may call, its
 * workloads' certificates once a proxy holds one, its upstreams and their endpoints; the same
 * shape over HTTP.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ack } from '../support/ads-client.js';
import { AccordProcess, OPERATOR_TOKEN } from '../e2e/processes.js';
import { runCli, type CliResult } from './run-cli.js';

const POLICIES = `apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: payments-callers }
spec:
  target: payments
  action: ALLOW
  rules:
    - from: [{ service: web }]
    - from: [{ service: reports }]
      to: [{ methods: [GET] }]
---
apiVersion: accord.dev/v1
kind: UpstreamPolicy
metadata: { name: web-upstreams }
spec:
  source: web
  upstreams:
    - { service: payments, localPort: 9001 }
---
apiVersion: accord.dev/v1
kind: UpstreamPolicy
metadata: { name: batch-upstreams }
spec:
  source: batch
  upstreams:
    - { service: payments, localPort: 9002 }
---
apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments-timeouts }
spec:
  target: payments
  connectTimeout: 2s
`;

interface Description {
  kind: string;
  service: { name: string; namespace: string };
  mtls: { mode: string };
  policies: { kind: string; name: string; role: string }[];
  defaultAccess: string;
  callers: { service: string; access: string; decidedBy: string[] }[];
  calls: { service: string; access: string }[];
  workloads: { id: string; spiffeId: string; certificate: { serial: string; spiffeId: string; notAfter: string } | null }[];
  upstreams: { service: string; localPort: number; endpoints: { workload: string; address: string; port: number }[] }[];
}

describe('accord describe', () => {
  let server: AccordProcess;
  let dir: string;
  let client: XdsTestClient | undefined;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN });
  const register = async (service: string, address: string): Promise<{ id: string; token: string }> => {
    const result = await cli(['register', '--service', service, '--address', address, '--port', '8080', '-o', 'json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as { id: string; token: string };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-describe-'));
    server = await AccordProcess.start([]);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('shows mTLS, policies, callers and callees, certificates, upstreams and endpoints', async () => {
    const payments1 = await register('payments', '10.2.0.1');
    const payments2 = await register('payments', '10.2.0.2');
    await register('web', '10.2.0.3');
    await register('reports', '10.2.0.4');
    await register('batch', '10.2.0.5');
    await writeFile(path.join(dir, 'policies.yaml'), POLICIES);
    const applied = await cli(['apply', '-f', path.join(dir, 'policies.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);

    // One payments proxy takes its certificate over SDS.
    client = new XdsTestClient(server.xds, new XdsCodec(loadEnvoyProtos()), { metadata: { authorization: `Bearer ${payments1.token}` } });
    const stream = client.sotw();
    stream.send({ node: { id: payments1.id, user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Secret, resource_names: ['default', 'ROOTCA'] });
    ack(stream, await stream.nextWhere((res) => res.type_url === TypeUrl.Secret && res.resources.length === 2, 10_000, 'both secrets'));

    let payments: Description | undefined;
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const result = await cli(['describe', 'payments', '-o', 'json']);
      expect(result.code, result.stderr).toBe(0);
      payments = JSON.parse(result.stdout) as Description;
      if (payments.workloads.some((w) => w.certificate !== null)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(payments?.kind).toBe('service');
    expect(payments?.mtls.mode).toBe('STRICT');
    expect(payments?.policies.map((p) => `${p.kind}/${p.name}/${p.role}`).sort()).toEqual([
      'AuthorizationPolicy/payments-callers/target',
      'TrafficPolicy/payments-timeouts/target',
      'UpstreamPolicy/batch-upstreams/upstream',
      'UpstreamPolicy/web-upstreams/upstream',
    ]);
    expect(payments?.defaultAccess).toBe('DENIED');
    const access = Object.fromEntries((payments?.callers ?? []).map((c) => [c.service, c.access]));
    expect(access).toEqual({ batch: 'DENIED', reports: 'PARTIAL', web: 'ALLOWED' });
    const first = payments?.workloads.find((w) => w.id === payments1.id);
    expect(first?.spiffeId).toBe('spiffe://mesh.local/ns/default/sa/payments');
    expect(first?.certificate?.spiffeId).toBe(first?.spiffeId);
    expect(first?.certificate?.serial).toMatch(/^[0-9a-f]+$/);
    expect(Date.parse(first?.certificate?.notAfter ?? '')).toBeGreaterThan(Date.now());
    expect(payments?.workloads.find((w) => w.id === payments2.id)?.certificate).toBeNull();

    const web = JSON.parse((await cli(['describe', 'web', '-o', 'json'])).stdout) as Description;
    expect(web.calls).toEqual([expect.objectContaining({ service: 'payments', access: 'ALLOWED' })]);
    expect(web.upstreams[0]?.endpoints).toHaveLength(2);
    expect(web.upstreams).toEqual([
      expect.objectContaining({
        service: 'payments',
        localPort: 9001,
        endpoints: expect.arrayContaining([
          expect.objectContaining({ workload: payments1.id, address: '10.2.0.1', port: 8080 }),
          expect.objectContaining({ workload: payments2.id, address: '10.2.0.2', port: 8080 }),
        ]),
      }),
    ]);
    const batch = JSON.parse((await cli(['describe', 'batch', '-o', 'json'])).stdout) as Description;
    expect(batch.calls).toEqual([expect.objectContaining({ service: 'payments', access: 'DENIED', decidedBy: ['AuthorizationPolicy default/payments-callers'] })]);

    // A workload id describes that workload alone.
    const one = JSON.parse((await cli(['describe', payments1.id, '-o', 'json'])).stdout) as Description;
    expect(one.kind).toBe('workload');
    expect(one.workloads.map((w) => w.id)).toEqual([payments1.id]);

    const human = await cli(['describe', 'payments']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/^service payments\.default \(http\)$/m);
    expect(human.stdout).toMatch(/^mTLS: STRICT \(mesh-wide\)/m);
    expect(human.stdout).toMatch(/^\s+web\.default\s+ALLOWED\s+AuthorizationPolicy default\/payments-callers$/m);
    expect(human.stdout).toMatch(/^\s+reports\.default\s+PARTIAL\s/m);
    expect(human.stdout).toMatch(/^\s+batch\.default\s+DENIED\s/m);
    expect(human.stdout).toContain(first?.certificate?.serial ?? 'no serial');
    const humanWeb = await cli(['describe', 'web']);
    expect(humanWeb.stdout).toMatch(/^ {2}it may call payments\.default/m);
    expect(humanWeb.stdout).toMatch(/^ {2}payments\.default on local port 9001: 10\.2\.0\.\d:8080 .*, 10\.2\.0\.\d:8080 /m);

    const http = await server.request('GET', '/v1/describe/payments');
    expect(http.status).toBe(200);
    expect(http.body).toEqual(JSON.parse((await cli(['describe', 'payments', '-o', 'json'])).stdout));

    const missing = await cli(['describe', 'paymnets']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^accord: NOT_FOUND: no workload with id "paymnets" and no service "paymnets"/);
  }, 90_000);
});
