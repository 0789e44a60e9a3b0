/**
 * A rolling restart of three `accord serve --redis` replicas under proxyless-gRPC load: every
 * replica drains (readiness fails at once, new xDS streams are refused, open streams are served
 * through the drain period, then closed spread over a window, exit 0), no request fails, and the
 * maximum connection age spreads the proxies over the replicas afterwards.
 */
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { AccordProcess, freePort, waitFor } from './processes.js';
import { JsonLineChild, startAgent, startEchoClient, startEchoServer } from './children.js';

const REDIS = 'redis://127.0.0.1:6379';
const codec = new XdsCodec(loadEnvoyProtos());
const DRAIN_MS = 3000;
const CLIENTS = 3;

interface LoadStats {
  ok: number;
  failed: number;
  errors: { code: number; details: string }[];
}

async function proxiesOn(replica: AccordProcess): Promise<string[]> {
  const response = await replica.request('GET', '/v1/proxies');
  if (response.status !== 200) throw new Error(`GET /v1/proxies: ${response.status}`);
  return (response.body as { proxies: { nodeId: string }[] }).proxies.map((p) => p.nodeId);
}

describe('rolling restart of three replicas under proxyless gRPC load', () => {
  const prefix = `accord-roll-${randomBytes(4).toString('hex')}`;
  const replicas: AccordProcess[] = [];
  const agents: ChildProcess[] = [];
  const children: JsonLineChild[] = [];
  const clients: JsonLineChild[] = [];
  let probeToken = '';
  let probeId = '';

  beforeAll(async () => {
    const args = ['--redis', REDIS, '--redis-prefix', prefix, '--drain-period', `${DRAIN_MS}ms`, '--drain-close-window', '2s', '--max-connection-age', '4s'];
    // Started one after the other: the first creates the mesh CA in Redis, the others load it.
    // ACCORD_SHUTDOWN_GRACE_MS (the harness's quick stop) is unset: these replicas drain for real.
    for (let i = 0; i < 3; i += 1) replicas.push(await AccordProcess.start(args, { ACCORD_SHUTDOWN_GRACE_MS: '' }));
    const [first] = replicas as [AccordProcess];
    const register = async (body: Record<string, unknown>): Promise<{ id: string; token: string }> => {
      const response = await first.request('POST', '/v1/workloads', { protocol: 'grpc', address: '127.0.0.1', ...body });
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return response.body as { id: string; token: string };
    };
    const serverPort = await freePort();
    const payments = await register({ service: 'payments', port: serverPort });
    const http = replicas.map((r) => r.http);
    const xds = replicas.map((r) => r.xds);
    // Each agent lists the replicas in another order, as a DNS answer would.
    const rotated = (i: number): string[] => [...xds.slice(i % 3), ...xds.slice(0, i % 3)];
    const paymentsAgent = await startAgent(payments.token, http, rotated(0));
    agents.push(paymentsAgent.child);
    const server = startEchoServer('payments', `127.0.0.1:${serverPort}`, paymentsAgent.dir);
    children.push(server);
    await server.waitForEvent('bound', 60_000);
    for (let i = 0; i < CLIENTS; i += 1) {
      const orders = await register({ service: `orders-${i}`, port: await freePort(), upstreams: [{ service: 'payments', localPort: 9001 }] });
      const agent = await startAgent(orders.token, http, rotated(i + 1));
      agents.push(agent.child);
      const client = startEchoClient(agent.dir);
      children.push(client);
      clients.push(client);
      await client.waitForEvent('ready', 30_000);
    }
    const probe = await register({ service: 'probe', port: await freePort() });
    probeToken = probe.token;
    probeId = probe.id;
    for (const client of clients) {
      await waitFor(
        async () => {
          const { results } = await client.send<{ results: { ok: boolean }[] }>({ cmd: 'call', target: 'xds:///payments', n: 1, deadlineMs: 3000 }, 30_000);
          return results.every((r) => r.ok) ? true : undefined;
        },
        60_000,
        'a client to reach payments',
      );
    }
  }, 240_000);

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const agent of agents) agent.kill('SIGKILL');
    for (const replica of replicas) replica.kill9();
    const redis = new Redis(REDIS);
    const keys = [...(await redis.keys(`${prefix}*`)), ...(await redis.keys(`{${prefix}}*`))];
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('drains each replica in turn with zero failed requests, then spreads the proxies across replicas', async () => {
    for (const client of clients) await client.send({ cmd: 'startLoad', target: 'xds:///payments', rate: 20, deadlineMs: 3000 });
    const drains: { replica: number; notReadyAfterMs: number; streamServedAfterMs: number; exitCode: number | null; tookMs: number }[] = [];

    for (const [index, replica] of replicas.entries()) {
      // A stream of our own, opened just before SIGTERM, shows what happens to open streams.
      const probeClient = new XdsTestClient(replica.xds, codec, { metadata: { authorization: `Bearer ${probeToken}` } });
      const stream = probeClient.sotw();
      stream.send({ node: { id: probeId, cluster: 'probe', user_agent_name: 'envoy' }, type_url: TypeUrl.Cluster, resource_names: [] });
      await stream.nextOfType(TypeUrl.Cluster, 10_000);

      const signalledAt = Date.now();
      const exited = replica.terminate();
      // Readiness fails at once, while HTTP still answers.
      const notReadyAfterMs = await waitFor(
        async () => ((await fetch(`${replica.http}/readyz`)).status === 503 ? Date.now() - signalledAt : undefined),
        10_000,
        'readiness to fail',
      );
      // A new stream is refused with UNAVAILABLE, so its client goes to another replica.
      const newcomer = new XdsTestClient(replica.xds, codec, { metadata: { authorization: `Bearer ${probeToken}` } });
      const refused = newcomer.sotw();
      refused.send({ node: { id: probeId, cluster: 'probe', user_agent_name: 'envoy' }, type_url: TypeUrl.Cluster, resource_names: [] });
      expect((await refused.ended(10_000)).code).toBe(grpc.status.UNAVAILABLE);
      newcomer.close();
      // The open stream is still served during the drain period: a new subscription is answered.
      stream.send({ type_url: TypeUrl.Listener, resource_names: [] });
      await stream.nextOfType(TypeUrl.Listener, 10_000);
      const streamServedAfterMs = Date.now() - signalledAt;
      expect(stream.isEnded).toBe(false);
      // …and ended with UNAVAILABLE once the drain period is over, never before it.
      const end = await stream.ended(30_000);
      const endedAfterMs = Date.now() - signalledAt;
      expect(end.code).toBe(grpc.status.UNAVAILABLE);
      expect(endedAfterMs).toBeGreaterThanOrEqual(DRAIN_MS);
      probeClient.close();
      const exitCode = await exited;
      const tookMs = Date.now() - signalledAt;
      expect(exitCode).toBe(0);
      drains.push({ replica: index, notReadyAfterMs, streamServedAfterMs, exitCode, tookMs });
      await replica.launch();
    }

    // With the maximum connection age (4 s), proxies keep moving to random other replicas: each
    // replica ends up serving some of them.
    const spreadAt = Date.now();
    const spread = await waitFor(
      async () => {
        const counts = await Promise.all(replicas.map(async (r) => (await proxiesOn(r)).length));
        return counts.every((n) => n > 0) ? counts : undefined;
      },
      90_000,
      'the proxies to spread over all three replicas',
    );
    const stats: LoadStats[] = [];
    for (const client of clients) stats.push((await client.send<{ stats: LoadStats }>({ cmd: 'stopLoad', settleMs: 3500 }, 30_000)).stats);
    const ok = stats.reduce((sum, s) => sum + s.ok, 0);
    const failed = stats.reduce((sum, s) => sum + s.failed, 0);
    console.log(JSON.stringify({ drains, spread, spreadAfterMs: Date.now() - spreadAt, requests: { ok, failed } }));
    expect(stats.flatMap((s) => s.errors)).toEqual([]);
    expect(failed).toBe(0);
    expect(ok).toBeGreaterThan(100);
  }, 400_000);
});
