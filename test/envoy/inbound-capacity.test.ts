/**
 * A destination's sidecar carries more than Envoy's default circuit-breaker limit (1024) of
 * concurrent inbound connections: its inbound cluster (sidecar → app) must not cap what the
 * callers' TrafficPolicy allows. Real Envoy pair, TCP service, 1,100 connections held at once.
 */
import { writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { AccordProcess, OPERATOR_TOKEN } from '../e2e/processes.js';
import { ENVOY_TEST_TIMEOUT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { freeListenPorts } from '../support/relocate-ports.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

const CONNECTIONS = 1100;

/** Connects and waits for one echoed line; the socket stays open. */
function openEchoing(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const timer = setTimeout(() => socket.destroy(new Error('no echo within 30 s')), 30_000);
    socket.once('connect', () => socket.write('ping\n'));
    socket.once('data', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      reject(new Error('closed before the echo'));
    });
  });
}

describe('inbound capacity through real Envoy', () => {
  const fleet = useEnvoyFleet();
  let accord: AccordProcess;
  let app: Server;
  let payments: TestEnvoy;
  let outbound: number;
  const held: Socket[] = [];

  beforeAll(async () => {
    app = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    });
    await new Promise<void>((resolve) => app.listen({ port: 0, host: '127.0.0.1', backlog: 2048 }, resolve));
    const appPort = (app.address() as { port: number }).port;
    const [paymentsMesh, ordersMesh, upstream] = await freeListenPorts(3);
    outbound = upstream;
    accord = await AccordProcess.start([]);
    // The callers' limit is raised the documented way; the destination's side has none of its own.
    const policy = await accord.request('POST', '/v1/policies:apply?allowUnknownTargets=true', [
      { apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'payments', namespace: 'default' }, spec: { target: 'payments', circuitBreakers: { maxConnections: 100_000 } } },
    ]);
    expect(policy.status, JSON.stringify(policy.body)).toBeLessThan(300);
    const paymentsId = ((await accord.request('POST', '/v1/workloads', { service: 'payments', address: '127.0.0.3', port: appPort, meshPort: paymentsMesh, protocol: 'tcp' })).body as { id: string }).id;
    const ordersId = ((await accord.request('POST', '/v1/workloads', { service: 'orders', address: '127.0.0.2', port: 1, meshPort: ordersMesh, upstreams: [{ service: 'payments', localPort: outbound }] })).body as { id: string }).id;
    const caBundle = path.join(fleet.scratchDir('ca'), 'ca.pem');
    writeFileSync(caBundle, await (await fetch(`${accord.http}/v1/ca/bundle`)).text());
    const bootstrap = async (id: string): Promise<string> => {
      const query = new URLSearchParams({ format: 'envoy', caBundle, xds: accord.xds });
      const response = await fetch(`${accord.http}/v1/workloads/${id}/bootstrap?${query}`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
      expect(response.status).toBe(200);
      return response.text();
    };
    payments = await fleet.start('capacity-payments', await bootstrap(paymentsId));
    const orders = await fleet.start('capacity-orders', await bootstrap(ordersId));
    await orders.waitFor('the mTLS path to echo', async () => {
      (await openEchoing(outbound)).destroy();
      return true;
    });
  });
  afterAll(async () => {
    for (const socket of held) socket.destroy();
    await fleet.stopAll();
    await accord?.stop();
    await new Promise((r) => app?.close(r));
  });

  it(`holds ${CONNECTIONS} concurrent mTLS connections, none refused by a circuit breaker`, async () => {
    const results: PromiseSettledResult<Socket>[] = [];
    for (let i = 0; i < CONNECTIONS; i += 100) {
      results.push(...(await Promise.allSettled(Array.from({ length: Math.min(100, CONNECTIONS - i) }, () => openEchoing(outbound)))));
    }
    for (const result of results) if (result.status === 'fulfilled') held.push(result.value);
    const failures = results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason));
    console.log(`inbound capacity: ${held.length}/${CONNECTIONS} connections held, ${failures.length} failed`);
    const overflow = [...(await payments.admin.stats('^cluster\\.inbound.*\\.upstream_cx_overflow$')).values()].reduce((a, b) => a + b, 0);
    expect({ failed: failures.length, firstFailures: failures.slice(0, 3), overflow }).toEqual({ failed: 0, firstFailures: [], overflow: 0 });
    const active = [...(await payments.admin.stats('^cluster\\.inbound.*\\.upstream_cx_active$')).values()].reduce((a, b) => a + b, 0);
    expect(active).toBe(CONNECTIONS);
  });
});
