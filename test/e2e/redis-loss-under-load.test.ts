import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, freePort, waitFor } from './processes.js';
import { JsonLineChild, startAgent, startEchoClient, startEchoServer } from './children.js';

const REDIS = 'redis://127.0.0.1:6379';
const OPERATOR = 'e2e-operator-token';

interface CallResult {
  ok: boolean;
  code?: number;
  details?: string;
}

/**
 * Issue #15, "Redis loss without an identity reset": every key of the prefix is deleted while two
 * replicas serve proxyless gRPC traffic. The replicas re-seed Redis with what they hold (registry,
 * policies, sealed CA material), so tokens keep authenticating and the root stays; the
 * workload-token key is rotated mid-load as well.
 */
describe('Redis loses every key under load (two replicas, proxyless gRPC)', () => {
  const prefix = `accord-wipe-${randomBytes(4).toString('hex')}`;
  let a: AccordProcess;
  let b: AccordProcess;
  const agents: ChildProcess[] = [];
  const children: JsonLineChild[] = [];
  let orders: JsonLineChild;
  const tokens: Record<string, string> = {};

  const wipe = async (): Promise<number> => {
    const redis = new Redis(REDIS);
    try {
      const keys = [...(await redis.keys(`${prefix}*`)), ...(await redis.keys(`{${prefix}}*`))];
      if (keys.length > 0) await redis.del(...keys);
      return keys.length;
    } finally {
      await redis.quit();
    }
  };
  const get = async (base: string, urlPath: string, token = OPERATOR): Promise<{ status: number; text: string }> => {
    const response = await fetch(`${base}${urlPath}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: response.status, text: await response.text() };
  };

  beforeAll(async () => {
    a = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    b = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    const port = await freePort();
    const register = async (body: Record<string, unknown>): Promise<string> => {
      const response = await a.request('POST', '/v1/workloads', { protocol: 'grpc', address: '127.0.0.1', ...body });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return (response.body as { token: string }).token;
    };
    tokens.payments = await register({ service: 'payments', port });
    tokens.orders = await register({ service: 'orders', port: await freePort(), upstreams: [{ service: 'payments', localPort: 9001 }] });
    const xds = [a.xds, b.xds];
    const paymentsAgent = await startAgent(tokens.payments, [a.http, b.http], xds);
    const ordersAgent = await startAgent(tokens.orders, [a.http, b.http], xds);
    agents.push(paymentsAgent.child, ordersAgent.child);
    const server = startEchoServer('payments', `127.0.0.1:${port}`, paymentsAgent.dir);
    children.push(server);
    await server.waitForEvent('bound', 30_000);
    orders = startEchoClient(ordersAgent.dir);
    children.push(orders);
    await orders.waitForEvent('ready', 10_000);
  }, 120_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const agent of agents) agent.kill('SIGKILL');
    await Promise.all([a?.stop(), b?.stop()]);
    await wipe();
  });

  it('zero failed requests, the same root, tokens still authenticate, the registry converges', async () => {
    const call = async (n: number): Promise<CallResult[]> =>
      (await orders.send<{ results: CallResult[] }>({ cmd: 'call', target: 'xds:///payments', n, deadlineMs: 3000 }, 60_000)).results;
    await waitFor(async () => ((await call(3)).every((r) => r.ok) ? true : undefined), 30_000, 'orders to reach payments');
    const rootBefore = (await get(a.http, '/v1/ca/bundle')).text;
    const workloadsBefore = JSON.parse((await get(a.http, '/v1/workloads')).text) as { workloads: { id: string }[] };

    let ok = 0;
    const failures: CallResult[] = [];
    let wiped = 0;
    const started = Date.now();
    // Traffic for 2 s before the wipe and 8 s after it (time-based: the machine may be busy).
    // 4 s after the wipe, the workload-token key is rotated on B: still no failed request.
    let wipedAt: number | undefined;
    let rotated: { status: number; text: string } | undefined;
    while (wipedAt === undefined || Date.now() - wipedAt < 8_000) {
      if (wipedAt === undefined && Date.now() - started >= 2_000) {
        wiped = await wipe();
        wipedAt = Date.now();
      }
      if (wipedAt !== undefined && rotated === undefined && Date.now() - wipedAt >= 4_000) {
        const response = await fetch(`${b.http}/v1/ca/token-key/rotate`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' }, body: '{}' });
        rotated = { status: response.status, text: await response.text() };
      }
      for (const result of await call(5)) {
        if (result.ok) ok++;
        else failures.push(result);
      }
    }
    const afterMs = Date.now() - started;
    expect(wiped).toBeGreaterThan(0);
    expect(rotated?.status, rotated?.text).toBe(200);

    // The registry converges on both replicas: the same workloads as before the loss.
    const ids = workloadsBefore.workloads.map((w) => w.id).sort();
    const converged = await waitFor(
      async () => {
        for (const replica of [a, b]) {
          const listed = JSON.parse((await get(replica.http, '/v1/workloads')).text) as { workloads?: { id: string }[] };
          if (JSON.stringify((listed.workloads ?? []).map((w) => w.id).sort()) !== JSON.stringify(ids)) return undefined;
        }
        return Date.now() - started;
      },
      30_000,
      'both replicas list the workloads again',
    );
    for (const replica of [a, b]) {
      expect((await get(replica.http, '/v1/ca/bundle')).text).toBe(rootBefore);
      expect((await get(replica.http, '/v1/agent/bundle', tokens.orders)).status).toBe(200);
      expect((await get(replica.http, '/v1/agent/bundle', tokens.payments)).status).toBe(200);
    }
    // A replica starting now (fresh data dir) finds the re-seeded CA material, not an empty store.
    const late = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    try {
      expect((await get(late.http, '/v1/ca/bundle')).text).toBe(rootBefore);
    } finally {
      await late.stop();
    }
    console.log(
      `Redis wipe under load: ${wiped} keys deleted; ${ok} requests ok, ${failures.length} failed in ${afterMs} ms; ` +
        `registry (${ids.length} workloads) converged on both replicas by ${converged} ms (first check after the run); root unchanged on both replicas; ` +
        'token key rotated mid-load, tokens from before still authenticate on both',
    );
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(50);
  }, 180_000);
});
