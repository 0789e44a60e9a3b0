import { randomBytes, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { CertificateAuthority, createCaMaterial } from '../../src/ca/index.js';
import { AccordProcess, freePort, waitFor } from './processes.js';
import { JsonLineChild, startAgent, startEchoClient, startEchoServer } from './children.js';

const REDIS = 'redis://127.0.0.1:6379';

interface CallResult {
  ok: boolean;
  code?: number;
  details?: string;
  ms: number;
  body?: { server: string; peer: { san?: string; transport?: string; serial?: string }; attempts: number };
}
interface LoadStats {
  ok: number;
  failed: number;
  errors: { code: number; details: string }[];
  servers: Record<string, number>;
}

const yaml = (docs: string[]): string => docs.join('---\n');
const MESH = `apiVersion: accord.dev/v1
kind: Mesh
metadata: { name: default }
spec:
  trustDomain: mesh.local
  mtls: STRICT
  certificates: { ttl: 12s, rotateAt: 0.5, jitter: 0.05 }
`;
const allowCallers = (callers: string[]): string => `apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: payments-callers, namespace: default }
spec:
  target: payments
  action: ALLOW
  rules:
    - from: [${callers.map((c) => `{ service: ${c} }`).join(', ')}]
`;

describe('proxyless gRPC mesh end to end: agents, mTLS, RBAC, traffic policy, rotation, failover', () => {
  const prefix = `accord-mesh-${randomBytes(4).toString('hex')}`;
  let a: AccordProcess;
  let b: AccordProcess;
  const agents: ChildProcess[] = [];
  const children: JsonLineChild[] = [];
  let orders: JsonLineChild;
  let intruder: JsonLineChild;
  const ids: Record<string, string> = {};
  let ports: Record<string, number> = {};
  let ordersAgentDir = '';
  const agentDirs: Record<string, string> = {};
  const agentOutputs: Record<string, string[]> = {};

  const pems = (text: string): string[] => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];

  /** What each side holds, for a failure message: leaf issuer and trusted roots on disk, server states, recent warnings. */
  const diagnosis = async (): Promise<string> => {
    const lines: string[] = [];
    const subjectOf = (pem: string): string => {
      try {
        const cert = new X509Certificate(pem);
        return `${cert.subject.replace(/\n/g, ',')} (issuer ${cert.issuer.replace(/\n/g, ',')}, serial ${cert.serialNumber.slice(0, 8)}, notAfter ${cert.validTo})`;
      } catch (error) {
        return `unreadable: ${String(error)}`;
      }
    };
    for (const [key, dir] of Object.entries(agentDirs)) {
      const chain = pems(await readFile(path.join(dir, 'cert.pem'), 'utf8').catch(() => ''));
      const roots = pems(await readFile(path.join(dir, 'ca.pem'), 'utf8').catch(() => ''));
      lines.push(`${key}: leaf ${chain[0] ? subjectOf(chain[0]) : 'none'}; trusts ${roots.map(subjectOf).join(' + ') || 'nothing'}`);
      const warnings = (agentOutputs[key] ?? []).join('').split('\n').filter((line) => /"level":(40|50)/.test(line));
      if (warnings.length > 0) lines.push(`  agent warnings: ${warnings.slice(-3).join(' | ').slice(0, 1500)}`);
    }
    for (const child of children) lines.push(`server/client events: ${JSON.stringify(child.events.slice(-4))}; stderr ${child.stderr.join('').slice(-1500)}`);
    const ca = await b.request('GET', '/v1/ca').then((r) => JSON.stringify(r.body)).catch((e: unknown) => String(e));
    lines.push(`b /v1/ca: ${ca.slice(0, 1500)}`);
    const bWarnings = b.output.join('').split('\n').filter((line) => /"level":(40|50)/.test(line));
    lines.push(`b warnings: ${bWarnings.slice(-5).join(' | ').slice(0, 2000)}`);
    return lines.join('\n');
  };

  const applyPolicies = async (docs: string[]): Promise<void> => {
    // Applied before any workload registers: the services it names are intended.
    const response = await fetch(`${a.http}/v1/policies?allowUnknownTargets=true`, {
      method: 'PUT',
      headers: { authorization: 'Bearer e2e-operator-token', 'content-type': 'application/yaml' },
      body: yaml(docs),
    });
    expect(response.status, await response.clone().text()).toBe(200);
  };
  const call = async (client: JsonLineChild, n: number, extra: Record<string, unknown> = {}): Promise<CallResult[]> =>
    (await client.send<{ results: CallResult[] }>({ cmd: 'call', target: 'xds:///payments', n, deadlineMs: 3000, ...extra }, 60_000)).results;

  beforeAll(async () => {
    a = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    b = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    await applyPolicies([MESH, allowCallers(['orders'])]);
    ports = { v1: await freePort(), v2: await freePort() };
    const register = async (key: string, body: Record<string, unknown>): Promise<string> => {
      const response = await a.request('POST', '/v1/workloads', { protocol: 'grpc', address: '127.0.0.1', ...body });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      const { id, token } = response.body as { id: string; token: string };
      ids[key] = id;
      return token;
    };
    const tokens = {
      v1: await register('v1', { service: 'payments', port: ports.v1, labels: { version: 'v1' } }),
      v2: await register('v2', { service: 'payments', port: ports.v2, labels: { version: 'v2' } }),
      orders: await register('orders', { service: 'orders', port: await freePort(), upstreams: [{ service: 'payments', localPort: 9001 }] }),
      intruder: await register('intruder', { service: 'intruder', port: await freePort(), upstreams: [{ service: 'payments', localPort: 9001 }] }),
    };
    const xds = [a.xds, b.xds];
    const agentOf = async (key: string, token: string): Promise<string> => {
      const agent = await startAgent(token, [a.http, b.http], xds);
      agents.push(agent.child);
      agentDirs[key] = agent.dir;
      agentOutputs[key] = agent.output;
      return agent.dir;
    };
    const v1Dir = await agentOf('v1', tokens.v1);
    const v2Dir = await agentOf('v2', tokens.v2);
    ordersAgentDir = await agentOf('orders', tokens.orders);
    const intruderDir = await agentOf('intruder', tokens.intruder);
    const v1 = startEchoServer('payments-v1', `127.0.0.1:${ports.v1}`, v1Dir);
    const v2 = startEchoServer('payments-v2', `127.0.0.1:${ports.v2}`, v2Dir);
    children.push(v1, v2);
    // bindAsync calls back once the server's Listener from Accord is accepted and the port is bound.
    await Promise.all([v1.waitForEvent('bound', 30_000), v2.waitForEvent('bound', 30_000)]);
    orders = startEchoClient(ordersAgentDir);
    intruder = startEchoClient(intruderDir);
    children.push(orders, intruder);
    await Promise.all([orders.waitForEvent('ready', 10_000), intruder.waitForEvent('ready', 10_000)]);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const agent of agents) agent.kill('SIGKILL');
    await Promise.all([a?.stop(), b?.stop()]);
    const redis = new Redis(REDIS);
    const keys = [...(await redis.keys(`${prefix}*`)), ...(await redis.keys(`{${prefix}}*`))];
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('mTLS works and the server sees the caller\'s SPIFFE ID', async () => {
    const results = await waitFor(
      async () => {
        const r = await call(orders, 5);
        return r.every((x) => x.ok) ? r : undefined;
      },
      30_000,
      'orders to reach payments',
    );
    for (const result of results) {
      expect(result.body?.peer.san).toContain('URI:spiffe://mesh.local/ns/default/sa/orders');
      expect(result.body?.peer.transport).toBe('ssl');
    }
  });

  it('"intruder" gets PERMISSION_DENIED from RBAC', async () => {
    const [result] = await call(intruder, 1);
    expect(result?.ok).toBe(false);
    expect(result?.code).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('a client whose certificate comes from another CA fails the handshake', async () => {
    const material = await createCaMaterial({ trustDomain: 'mesh.local', now: Date.now() });
    const otherCa = new CertificateAuthority({ material, trustDomain: 'mesh.local', logger: silentLogger() });
    const leaf = otherCa.issue({ spiffeId: 'spiffe://mesh.local/ns/default/sa/orders', now: Date.now() });
    const meshBundle = await (await fetch(`${a.http}/v1/ca/bundle`)).text();
    const credentials = grpc.credentials.createSsl(Buffer.from(meshBundle), Buffer.from(leaf.keyPem), Buffer.from(leaf.certChainPem), {
      checkServerIdentity: () => undefined,
    });
    const Client = grpc.makeGenericClientConstructor({
      Call: { path: '/accord.test.Echo/Call', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b },
    }, 'Echo');
    const client = new Client(`127.0.0.1:${ports.v1}`, credentials);
    const error = await new Promise<grpc.ServiceError | null>((resolve) => {
      (client as unknown as { Call: (req: Buffer, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null) => void) => void }).Call(
        Buffer.from('{}'),
        { deadline: Date.now() + 3000 },
        (e) => resolve(e),
      );
    });
    client.close();
    expect(error).not.toBeNull();
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
  });

  it('a weighted split (80/20 across label subsets) is observed statistically', async () => {
    await applyPolicies([
      MESH,
      allowCallers(['orders']),
      `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments, namespace: default }
spec:
  target: payments
  split:
    - { name: v1, labels: { version: v1 }, weight: 80 }
    - { name: v2, labels: { version: v2 }, weight: 20 }
`,
    ]);
    // Wait until both subsets are in use (the split has arrived), then measure.
    await waitFor(async () => {
      const r = await call(orders, 20);
      return r.some((x) => x.body?.server === 'payments-v2') && r.some((x) => x.body?.server === 'payments-v1') ? true : undefined;
    }, 20_000, 'the split to apply');
    const results = await call(orders, 300);
    expect(results.every((r) => r.ok)).toBe(true);
    const v1Share = results.filter((r) => r.body?.server === 'payments-v1').length / results.length;
    expect(v1Share).toBeGreaterThan(0.7);
    expect(v1Share).toBeLessThan(0.9);
  });

  const trafficPolicy = (spec: string): string => `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments, namespace: default }
spec:
  target: payments
${spec}`;

  it('the request timeout of a TrafficPolicy is observed', async () => {
    await applyPolicies([MESH, allowCallers(['orders']), trafficPolicy('  requestTimeout: 500ms\n')]);
    const timedOut = await waitFor(async () => {
      const [r] = await call(orders, 1, { body: { sleepMs: 2500 }, deadlineMs: 5000 });
      return r && !r.ok && r.code === grpc.status.DEADLINE_EXCEEDED ? r : undefined;
    }, 20_000, 'the 500ms route timeout');
    expect(timedOut.ms).toBeLessThan(2000);
  });

  it('the retries of a TrafficPolicy are observed', async () => {
    await applyPolicies([MESH, allowCallers(['orders']), trafficPolicy('  retries: { attempts: 5, retryOn: [unavailable] }\n')]);
    // Each server fails a given key twice; with two servers at most four attempts fail.
    const retried = await waitFor(async () => {
      const [r] = await call(orders, 1, { body: { failKey: randomBytes(4).toString('hex'), failTimes: 2 } });
      return r?.ok ? r : undefined;
    }, 20_000, 'a call that succeeds after retries');
    expect(retried.body?.attempts).toBeGreaterThanOrEqual(2);
    // Back to no traffic policy for the tests that follow.
    await applyPolicies([MESH, allowCallers(['orders'])]);
  });

  it('carries continuous load through at least 5 leaf rotations and a replica kill -9 with zero failed RPCs', async () => {
    const certFile = path.join(ordersAgentDir, 'cert.pem');
    const serialOf = async (): Promise<string> => new X509Certificate(await readFile(certFile)).serialNumber;
    const serials = new Set<string>([await serialOf()]);
    await orders.send({ cmd: 'startLoad', target: 'xds:///payments', rate: 100, deadlineMs: 2000 });
    let killed = false;
    const deadline = Date.now() + 60_000;
    while (serials.size < 6 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      serials.add(await serialOf());
      if (!killed && serials.size >= 3) {
        a.kill9();
        killed = true;
      }
    }
    const { stats } = await orders.send<{ stats: LoadStats }>({ cmd: 'stopLoad', settleMs: 2500 });
    expect(killed).toBe(true);
    expect(serials.size).toBeGreaterThanOrEqual(6);
    expect(stats.failed, JSON.stringify(stats.errors)).toBe(0);
    expect(stats.ok).toBeGreaterThan(1000);

    // New handshakes present the new serial: the server sees the caller's latest certificate.
    const latest = await serialOf();
    const [fresh] = await call(orders, 1, { fresh: true });
    expect(fresh?.ok).toBe(true);
    const seenSerial = (fresh?.body?.peer as { serial?: string } | undefined)?.serial;
    expect([latest, await serialOf()]).toContain(seenSerial);

    // The agents moved to the surviving replica: it now serves their workloads' streams.
    const { proxies: onB } = (await b.request('GET', '/v1/proxies')).body as { proxies: { nodeId: string }[] };
    expect(onB.map((p) => p.nodeId)).toEqual(expect.arrayContaining([ids.orders, ids.v1]));
  }, 120_000);

  it('a full root rotation (P0–P4) under load: zero failed RPCs, and new handshakes use the new root', async () => {
    const before = await (await fetch(`${b.http}/v1/ca/bundle`)).text();
    await orders.send({ cmd: 'startLoad', target: 'xds:///payments', rate: 100, deadlineMs: 2000 });
    const started = await fetch(`${b.http}/v1/ca/rotate`, { method: 'POST', headers: { authorization: 'Bearer e2e-operator-token', 'content-type': 'application/json' }, body: '{}' });
    expect(started.status, await started.clone().text()).toBe(200);
    const phases = new Set<string>();
    let last: { phase: string } | undefined;
    await waitFor(async () => {
      const status = (await (await fetch(`${b.http}/v1/ca`, { headers: { authorization: 'Bearer e2e-operator-token' } })).json()) as { rootRotation: { phase: string } };
      last = status.rootRotation;
      phases.add(status.rootRotation.phase);
      return status.rootRotation.phase === 'P4_RETIRED' ? true : undefined;
    }, 90_000, 'the root rotation to complete').catch((error: unknown) => {
      throw new Error(`${String(error)}; phases seen: ${[...phases].join(', ')}; last status: ${JSON.stringify(last)}`);
    });
    const { stats } = await orders.send<{ stats: LoadStats }>({ cmd: 'stopLoad', settleMs: 2500 });
    expect(stats.failed, JSON.stringify(stats.errors)).toBe(0);
    expect(stats.ok).toBeGreaterThan(200);
    expect(phases.has('P4_RETIRED')).toBe(true);

    const after = await (await fetch(`${b.http}/v1/ca/bundle`)).text();
    expect(after).not.toBe(before);
    // The orders certificate on disk now chains to the new root.
    const chain = await readFile(path.join(ordersAgentDir, 'cert.pem'), 'utf8');
    const [leafPem, intermediatePem] = pems(chain);
    const root = new X509Certificate(after);
    expect(new X509Certificate(intermediatePem ?? '').verify(root.publicKey)).toBe(true);
    expect(new X509Certificate(leafPem ?? '').checkIssued(new X509Certificate(intermediatePem ?? ''))).toBe(true);
    const [fresh] = await call(orders, 1, { fresh: true });
    expect(fresh?.ok, `${JSON.stringify(fresh)}\n${fresh?.ok ? '' : await diagnosis()}`).toBe(true);
  }, 150_000);

  it('a policy change (allow "intruder") takes effect for new RPCs within 1 s', async () => {
    const response = await fetch(`${b.http}/v1/policies`, {
      method: 'PUT',
      headers: { authorization: 'Bearer e2e-operator-token', 'content-type': 'application/yaml' },
      body: yaml([MESH, allowCallers(['orders', 'intruder'])]),
    });
    expect(response.status).toBe(200);
    const appliedAt = Date.now();
    const allowedAt = await waitFor(async () => {
      const [r] = await call(intruder, 1, { deadlineMs: 1000 });
      return r?.ok ? Date.now() : undefined;
    }, 10_000, 'intruder to be allowed');
    expect(allowedAt - appliedAt).toBeLessThanOrEqual(1000);
  });

  it('endpoint removal moves traffic to the remaining endpoint', async () => {
    const removed = await b.request('DELETE', `/v1/workloads/${ids.v2}`);
    expect(removed.status).toBe(204);
    await waitFor(async () => {
      const r = await call(orders, 20);
      return r.every((x) => x.ok && x.body?.server === 'payments-v1') ? true : undefined;
    }, 20_000, 'all traffic on payments-v1').catch(async (error: unknown) => {
      throw new Error(`${String(error)}\n${await diagnosis()}`);
    });
  });

  it('revoking "orders": its new connections fail within 2 s of the command', async () => {
    const [before] = await call(orders, 1, { fresh: true });
    expect(before?.ok, `${JSON.stringify(before)}\n${before?.ok ? '' : await diagnosis()}`).toBe(true);
    const response = await b.request('POST', '/v1/ca/revoke', { workload: ids.orders });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
    const revokedAt = Date.now();
    const refusedAt = await waitFor(async () => {
      const [r] = await call(orders, 1, { fresh: true, deadlineMs: 1000 });
      return r && !r.ok ? Date.now() : undefined;
    }, 10_000, 'orders to be refused');
    expect(refusedAt - revokedAt).toBeLessThanOrEqual(2000);
    const [after] = await call(orders, 1, { fresh: true });
    expect(after?.code).toBe(grpc.status.PERMISSION_DENIED);
  });
});
