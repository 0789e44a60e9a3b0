/**
 * The mesh through real Envoy sidecars, real processes only: Redis, two `accord serve --redis`
 * replicas, HTTP apps (orders, payments, intruder) and a gRPC app (ledger), each behind its own
 * Envoy started from `accord bootstrap --format envoy` (listing both replicas). In order: mTLS and
 * XFCC, STRICT/PERMISSIVE; RBAC and a foreign CA; TrafficPolicy; kill -9 of a replica under load;
 * sidecars whose token is denied or workload deregistered; leaf and root rotations under load;
 * and last (orders is gone after it) revocation through the CRL. Every test prints its figures.
 */
import { Agent } from 'node:http';
import { connect } from 'node:tls';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENVOY_TEST_TIMEOUT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { EnvoyMeshHarness, GrpcApp, HttpApp, callLedger, eventually, waitSettled, type Registered } from '../support/envoy-mesh.js';
import { RequestLoop, httpGet } from '../support/envoy-traffic.js';
import { versionsOf, type DumpView } from '../support/envoy-dump.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { freeListenPorts } from '../support/relocate-ports.js';
import { issueTestPki } from '../support/test-pki.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

const TRUST = 'spiffe://mesh.local/ns/default/sa';
const PERMISSION_DENIED = 7;

function meshDoc(mtls: 'STRICT' | 'PERMISSIVE'): Record<string, unknown> {
  // Short-lived leaves so that the rotation test sees several rotations in seconds.
  return { apiVersion: 'accord.dev/v1', kind: 'Mesh', metadata: { name: 'default' }, spec: { mtls, certificates: { ttl: '10s', rotateAt: 0.5, jitter: 0.1 } } };
}

/** The sum of the Envoy stats whose names match `filter`. */
async function statSum(envoy: TestEnvoy, filter: string): Promise<number> {
  return [...(await envoy.admin.stats(filter)).values()].reduce((a, b) => a + b, 0);
}

/** An HTTP request over TLS to `port` with the given client certificate: the status line, or why it failed. */
function tlsRequest(host: string, port: number, pem: { cert: string; key: string }): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, cert: pem.cert, key: pem.key, rejectUnauthorized: false, servername: 'payments' });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve('timed out');
    }, 10_000);
    const done = (result: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on('secureConnect', () => socket.write('GET / HTTP/1.1\r\nhost: payments\r\nconnection: close\r\n\r\n'));
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (error) => done(`error: ${error.message}`));
    socket.on('close', () => done(data ? data.split('\r\n')[0] : 'closed without an answer'));
  });
}

/** Envoy prints serials in lower-case hex, Node in upper case; neither keeps leading zeros the same way. */
function normalSerial(serial: string): string {
  return serial.toLowerCase().replace(/^0+/, '');
}

/** A keep-alive agent with one socket that counts the connections it opened. */
class CountingAgent extends Agent {
  connections = 0;
  constructor() {
    super({ keepAlive: true, maxSockets: 1 });
  }
  override createConnection(...args: Parameters<Agent['createConnection']>): ReturnType<Agent['createConnection']> {
    this.connections += 1;
    return super.createConnection(...args);
  }
}

/** The certificate (and its issuer) a TLS server presents to a new handshake (no client certificate: the server refuses after it showed its own). */
function presentedChain(host: string, port: number): Promise<{ serial: string; intermediate: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, servername: 'mesh' });
    const timer = setTimeout(() => socket.destroy(new Error('no handshake within 10 s')), 10_000);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const peer = socket.getPeerCertificate(true);
      socket.destroy();
      if (!peer.serialNumber || !peer.issuerCertificate) return reject(new Error('no peer certificate'));
      resolve({ serial: normalSerial(peer.serialNumber), intermediate: new X509Certificate(peer.issuerCertificate.raw) });
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function presentedSerial(host: string, port: number): Promise<string> {
  return (await presentedChain(host, port)).serial;
}

describe('the mesh through real Envoy sidecars', () => {
  const fleet = useEnvoyFleet();
  const mesh = new EnvoyMeshHarness(fleet);
  const apps = new Map<string, HttpApp>();
  let ledgerApp: GrpcApp;
  const ids = new Map<string, Registered>();
  const envoys = new Map<string, TestEnvoy>();
  let port: Record<'ordersApp' | 'paymentsApp' | 'intruderApp' | 'ledgerApp' | 'ordersMesh' | 'paymentsMesh' | 'intruderMesh' | 'ledgerMesh' | 'ordersToPayments' | 'ordersToLedger' | 'intruderToPayments' | 'intruderToLedger', number>;

  beforeAll(async () => {
    const free = await freeListenPorts(12);
    port = {
      ordersApp: free[0], paymentsApp: free[1], intruderApp: free[2], ledgerApp: free[3],
      ordersMesh: free[4], paymentsMesh: free[5], intruderMesh: free[6], ledgerMesh: free[7],
      ordersToPayments: free[8], ordersToLedger: free[9], intruderToPayments: free[10], intruderToLedger: free[11],
    };
    for (const [name, appPort] of [['orders', port.ordersApp], ['payments-1', port.paymentsApp], ['intruder', port.intruderApp]] as const) {
      apps.set(name, await HttpApp.start(name, appPort));
    }
    ledgerApp = await GrpcApp.start(port.ledgerApp);
    await mesh.start(['--issue-per-minute', '120', '--issue-burst', '20']);
    await mesh.apply([meshDoc('STRICT')]);
    const upstreams = (toPayments: number, toLedger: number): Record<string, unknown>[] => [
      { service: 'payments', localPort: toPayments },
      { service: 'ledger', localPort: toLedger },
    ];
    ids.set('orders', await mesh.register({ service: 'orders', address: '127.0.0.2', port: port.ordersApp, meshPort: port.ordersMesh, upstreams: upstreams(port.ordersToPayments, port.ordersToLedger) }));
    ids.set('payments-1', await mesh.register({ service: 'payments', address: '127.0.0.3', port: port.paymentsApp, meshPort: port.paymentsMesh, labels: { version: 'v1' } }));
    ids.set('intruder', await mesh.register({ service: 'intruder', address: '127.0.0.4', port: port.intruderApp, meshPort: port.intruderMesh, upstreams: upstreams(port.intruderToPayments, port.intruderToLedger) }));
    ids.set('ledger', await mesh.register({ service: 'ledger', address: '127.0.0.5', port: port.ledgerApp, meshPort: port.ledgerMesh, protocol: 'grpc' }));
    const started = await Promise.all([...ids].map(async ([name, workload]) => [name, await mesh.sidecar(`mesh-${name}`, workload.id, { delta: name !== 'intruder' })] as const));
    for (const [name, envoy] of started) envoys.set(name, envoy);
  });

  afterAll(async () => {
    await fleet.stopAll();
    await mesh.stop();
    await Promise.all([...apps.values()].map((app) => app.close()));
    await ledgerApp?.close();
  });

  it('orders → payments through both sidecars over mTLS: payments sees the SPIFFE ID of orders; plain text refused in STRICT, accepted in PERMISSIVE', async () => {
    const payments = apps.get('payments-1')!;
    const answer = await eventually('orders to reach payments', async () => {
      const a = await httpGet(port.ordersToPayments, { fresh: true });
      return a.status === 200 ? a : undefined;
    });
    expect(answer.body).toBe('payments-1');
    expect(payments.callers.at(-1)).toContain(`URI=${TRUST}/orders`);
    const handshakes = await statSum(envoys.get('payments-1')!, `^listener\\..*_${port.paymentsMesh}\\.ssl\\.handshake$`);
    expect(handshakes).toBeGreaterThan(0);

    // STRICT: plain HTTP to payments' mesh port gets no answer from the app.
    const before = payments.requests;
    await expect(httpGet(port.paymentsMesh, { fresh: true, host: '127.0.0.3', timeoutMs: 5_000 })).rejects.toThrow();
    expect(payments.requests).toBe(before);

    await mesh.apply([meshDoc('PERMISSIVE')]);
    const plain = await eventually('plain text accepted in PERMISSIVE', async () => {
      const a = await httpGet(port.paymentsMesh, { fresh: true, host: '127.0.0.3', timeoutMs: 5_000 });
      return a.status === 200 ? a : undefined;
    });
    expect(plain.body).toBe('payments-1');
    expect(payments.callers.at(-1)).toBe('');
    // mTLS from orders still works in PERMISSIVE.
    expect(await httpGet(port.ordersToPayments, { fresh: true })).toMatchObject({ status: 200, body: 'payments-1' });

    await mesh.apply([meshDoc('STRICT')]);
    await eventually('plain text refused again in STRICT', async () => {
      try {
        await httpGet(port.paymentsMesh, { fresh: true, host: '127.0.0.3', timeoutMs: 5_000 });
        return undefined;
      } catch {
        return true;
      }
    });
    for (const envoy of envoys.values()) expect(await envoy.rejectedUpdates(), envoy.name).toEqual({});
    console.log(`mTLS: payments saw ${payments.callers.at(-2)}; payments' Envoy ${handshakes} inbound TLS handshakes`);
  });
  it('intruder → payments is denied by RBAC (HTTP 403, gRPC PERMISSION_DENIED); a certificate from another CA fails the handshake', async () => {
    const allowOrders = (target: string): Record<string, unknown> => ({
      apiVersion: 'accord.dev/v1',
      kind: 'AuthorizationPolicy',
      metadata: { name: `${target}-callers` },
      spec: { target, action: 'ALLOW', rules: [{ from: [{ service: 'orders' }] }] },
    });
    // Before the policies, intruder is an authenticated mesh caller like any other.
    expect(await httpGet(port.intruderToPayments, { fresh: true })).toMatchObject({ status: 200, body: 'payments-1' });
    await mesh.apply([allowOrders('payments'), allowOrders('ledger')]);

    const denied = await eventually('intruder to be denied', async () => {
      const a = await httpGet(port.intruderToPayments, { fresh: true });
      return a.status === 403 ? a : undefined;
    });
    expect(denied.body).toContain('RBAC');
    expect(await httpGet(port.ordersToPayments, { fresh: true })).toMatchObject({ status: 200, body: 'payments-1' });
    expect(await statSum(envoys.get('payments-1')!, '\\.rbac\\.denied$')).toBeGreaterThan(0);

    const grpcDenied = await eventually('intruder to be denied by ledger', async () => {
      const call = await callLedger(port.intruderToLedger);
      return call.code === PERMISSION_DENIED ? call : undefined;
    });
    const ledgerCallsBefore = ledgerApp.calls;
    expect(await callLedger(port.ordersToLedger)).toMatchObject({ code: 0, reply: 'ledger' });
    expect(ledgerApp.calls).toBe(ledgerCallsBefore + 1);

    // A client certificate for orders' own SPIFFE ID, but from a CA the mesh does not trust.
    const pki = issueTestPki({ forged: `${TRUST}/orders` });
    try {
      const dir = pki.dirOf('forged');
      const payments = apps.get('payments-1')!;
      const before = payments.requests;
      const failsBefore = await statSum(envoys.get('payments-1')!, `^listener\\..*_${port.paymentsMesh}\\.ssl\\.fail_verify_error$`);
      const result = await tlsRequest('127.0.0.3', port.paymentsMesh, { cert: readFileSync(path.join(dir, 'cert.pem'), 'utf8'), key: readFileSync(path.join(dir, 'key.pem'), 'utf8') });
      expect(result).not.toMatch(/^HTTP\//);
      expect(payments.requests).toBe(before);
      await eventually('Envoy to count the failed verification', async () =>
        (await statSum(envoys.get('payments-1')!, `^listener\\..*_${port.paymentsMesh}\\.ssl\\.fail_verify_error$`)) > failsBefore ? true : undefined,
      );
      console.log(`RBAC: intruder HTTP ${denied.status} "${denied.body}", gRPC status ${grpcDenied.code} (${grpcDenied.details}); foreign-CA client: ${result}`);
    } finally {
      pki.remove();
    }
  });
  it('TrafficPolicy through Envoy: an 80/20 split, a request timeout, retries past a failing endpoint, an endpoint removal moving traffic', async () => {
    const [appPort, meshPort] = await freeListenPorts(2);
    const v2 = await HttpApp.start('payments-2', appPort);
    apps.set('payments-2', v2);
    ids.set('payments-2', await mesh.register({ service: 'payments', address: '127.0.0.6', port: appPort, meshPort, labels: { version: 'v2' } }));
    envoys.set('payments-2', await mesh.sidecar('mesh-payments-2', ids.get('payments-2')!.id, { delta: true }));
    const orders = envoys.get('orders')!;
    const policy = (spec: Record<string, unknown>): Record<string, unknown> => ({ apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'payments' }, spec: { target: 'payments', ...spec } });
    const routeOf = async (): Promise<string> => JSON.stringify((await orders.dump()).active.get('type.googleapis.com/envoy.config.route.v3.RouteConfiguration')?.get('payments.default')?.resource ?? {});

    await mesh.apply([
      policy({
        requestTimeout: '1s',
        split: [
          { name: 'stable', labels: { version: 'v1' }, weight: 80 },
          { name: 'canary', labels: { version: 'v2' }, weight: 20 },
        ],
      }),
    ]);
    await eventually('the split in orders\' route', async () => ((await routeOf()).includes('weighted_clusters') ? true : undefined));
    await waitSettled(orders);
    const counts: Record<string, number> = {};
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const answers = [];
      for (let batch = 0; batch < 40; batch++) {
        answers.push(...(await Promise.all(Array.from({ length: 10 }, () => httpGet(port.ordersToPayments, { agent })))));
      }
      for (const answer of answers) counts[`${answer.status} ${answer.body}`] = (counts[`${answer.status} ${answer.body}`] ?? 0) + 1;
    } finally {
      agent.destroy();
    }
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const canaryShare = (counts['200 payments-2'] ?? 0) / total;
    console.log(`split 80/20 over ${total} requests: ${JSON.stringify(counts)}, canary share ${(canaryShare * 100).toFixed(1)}%`);
    expect(total).toBeGreaterThanOrEqual(300);
    expect((counts['200 payments-1'] ?? 0) + (counts['200 payments-2'] ?? 0)).toBe(total);
    // 20% ± 8 points: more than 3.4 standard deviations of a binomial share over 400 requests.
    expect(canaryShare).toBeGreaterThan(0.12);
    expect(canaryShare).toBeLessThan(0.28);

    // requestTimeout 1s: a request the app answers after 5 s ends in a 504 from Envoy.
    const started = Date.now();
    const slow = await httpGet(port.ordersToPayments, { fresh: true, path: '/slow/5000' });
    const elapsed = Date.now() - started;
    console.log(`request timeout 1s: HTTP ${slow.status} "${slow.body}" after ${elapsed} ms`);
    expect(slow.status).toBe(504);
    expect(elapsed).toBeLessThan(4_500);

    // Retries: v2 answers 503, and every request still succeeds on a retry to v1.
    await mesh.apply([policy({ retries: { attempts: 3, retryOn: ['5xx'] } })]);
    await eventually('the retry policy in orders\' route', async () => {
      const route = await routeOf();
      return route.includes('retry_policy') && !route.includes('weighted_clusters') ? true : undefined;
    });
    await waitSettled(orders);
    v2.behaviour = { status: 503, delayMs: 0 };
    const retriesBefore = await statSum(orders, '^cluster\\.outbound\\.payments\\.default\\.upstream_rq_retry$');
    const failingBefore = v2.requests;
    const retried: string[] = [];
    for (let i = 0; i < 100; i++) {
      const answer = await httpGet(port.ordersToPayments, { fresh: i % 2 === 0 });
      retried.push(`${answer.status} ${answer.body}`);
    }
    const retries = (await statSum(orders, '^cluster\\.outbound\\.payments\\.default\\.upstream_rq_retry$')) - retriesBefore;
    console.log(`retries: 100 requests, ${retried.filter((r) => r !== '200 payments-1').length} failed; the failing endpoint saw ${v2.requests - failingBefore}, Envoy retried ${retries}`);
    expect(retried.filter((r) => r !== '200 payments-1')).toEqual([]);
    expect(v2.requests - failingBefore).toBeGreaterThan(0);
    expect(retries).toBeGreaterThan(0);
    v2.behaviour = { status: 200, delayMs: 0 };

    // Endpoint removal: both endpoints serve, then v2 deregisters and all traffic moves to v1.
    await eventually('both endpoints to serve', async () => {
      const bodies = new Set((await Promise.all(Array.from({ length: 10 }, () => httpGet(port.ordersToPayments, { fresh: true })))).map((a) => a.body));
      return bodies.has('payments-1') && bodies.has('payments-2') ? true : undefined;
    });
    const removedAt = Date.now();
    expect((await mesh.api.request('DELETE', `/v1/workloads/${ids.get('payments-2')!.id}`)).status).toBe(204);
    let streak = 0;
    await eventually('every request to go to payments-1', async () => {
      const answer = await httpGet(port.ordersToPayments, { fresh: true });
      expect(answer.status).toBe(200);
      streak = answer.body === 'payments-1' ? streak + 1 : 0;
      return streak >= 30 ? true : undefined;
    });
    console.log(`endpoint removal: traffic on payments-1 only ${Date.now() - removedAt} ms after the deregistration`);
    expect((await mesh.api.request('DELETE', '/v1/policies/TrafficPolicy/default/payments')).status).toBe(200);
    // Without the policy, the route is back to Accord's default retries.
    await eventually('the policy\'s retries replaced by the default ones in orders\' route', async () => {
      const route = await routeOf();
      return !route.includes('"retry_on":"5xx"') && route.includes('retriable-status-codes') ? true : undefined;
    });
    for (const envoy of envoys.values()) expect(await envoy.rejectedUpdates(), envoy.name).toEqual({});
  });
  it('a TrafficPolicy that changes one cluster: delta (orders) and SotW (intruder) Envoys re-warm it on its resent endpoints, with no initial-fetch timeout, the other cluster untouched', async () => {
    const clusterOf = async (envoy: TestEnvoy, name: string): Promise<string> =>
      JSON.stringify((await envoy.dump()).active.get(TypeUrl.Cluster)?.get(name)?.resource ?? {});
    const watched = [envoys.get('orders')!, envoys.get('intruder')!];
    for (const envoy of watched) await waitSettled(envoy);
    const ledgerBefore = await Promise.all(watched.map((envoy) => clusterOf(envoy, 'outbound.ledger.default')));
    const timeoutsBefore = await Promise.all(watched.map((envoy) => statSum(envoy, 'init_fetch_timeout$')));
    const appliedAt = Date.now();
    await mesh.apply([{ apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'payments' }, spec: { target: 'payments', connectTimeout: '3s' } }]);
    for (const envoy of watched) {
      await eventually(`${envoy.name}: the new connect timeout on the payments cluster`, async () => ((await clusterOf(envoy, 'outbound.payments.default')).includes('"connect_timeout":"3s"') ? true : undefined));
      await waitSettled(envoy);
    }
    const settledMs = Date.now() - appliedAt;
    const timeouts = await Promise.all(watched.map((envoy) => statSum(envoy, 'init_fetch_timeout$')));
    console.log(`one cluster changed: both Envoys settled ${settledMs} ms after the apply; init_fetch_timeout ${timeoutsBefore.join(',')} -> ${timeouts.join(',')}`);
    // A cluster left warming without its endpoints finishes only on Envoy's 15 s initial fetch timeout, which counts here.
    expect(timeouts).toEqual(timeoutsBefore);
    expect(await Promise.all(watched.map((envoy) => clusterOf(envoy, 'outbound.ledger.default')))).toEqual(ledgerBefore);
    expect((await httpGet(port.ordersToPayments, { fresh: true })).status).toBe(200);
    expect((await mesh.api.request('DELETE', '/v1/policies/TrafficPolicy/default/payments')).status).toBe(200);
    for (const envoy of watched) {
      await eventually(`${envoy.name}: the default connect timeout back`, async () => (!(await clusterOf(envoy, 'outbound.payments.default')).includes('"connect_timeout":"3s"') ? true : undefined));
      await waitSettled(envoy);
      expect(await envoy.rejectedUpdates(), envoy.name).toEqual({});
    }
  });

  it('kill -9 of the replica orders\' Envoy is connected to, under load: zero failed requests, Envoy moves to the other replica, config unchanged', async () => {
    const orders = envoys.get('orders')!;
    const live = ['orders', 'payments-1', 'intruder', 'ledger'];
    const connected = async (envoy: TestEnvoy): Promise<number | undefined> => (await envoy.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state');
    const victim = await eventually('orders\' stream on a replica', () => mesh.replicaOf(ids.get('orders')!.id));
    const survivor = 1 - victim;
    const before = new Map<string, DumpView>();
    for (const name of live) {
      await waitSettled(envoys.get(name)!);
      before.set(name, await envoys.get(name)!.dump());
    }
    const load = new RequestLoop([port.ordersToPayments], (a) => a.status === 200 && a.body === 'payments-1', 5);
    try {
      await eventually('load before the kill', async () => (load.ok >= 50 ? true : undefined));
      const killedAt = Date.now();
      mesh.replicas[victim].kill9();
      await mesh.replicas[victim].stop();
      const okAtKill = load.ok;
      await orders.waitFor('orders\' Envoy on the other replica', async () => ((await mesh.replicaOf(ids.get('orders')!.id)) === survivor && (await connected(orders)) === 1 ? true : undefined));
      const movedMs = Date.now() - killedAt;
      for (const name of live) await waitSettled(envoys.get(name)!);
      await eventually('load after the move', async () => (load.ok >= okAtKill + 100 ? true : undefined));
      await load.stop();
      console.log(`kill -9 of replica ${victim}: orders' Envoy reconnected to replica ${survivor} in ${movedMs} ms; ${load.ok} requests, ${load.failures.length} failed`);
      expect(load.failures).toEqual([]);
      for (const name of live) {
        const after = await envoys.get(name)!.dump();
        for (const typeUrl of [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster]) {
          expect(versionsOf(after, typeUrl), `${name} ${typeUrl}`).toEqual(versionsOf(before.get(name)!, typeUrl));
        }
        expect(after.active.get(TypeUrl.ClusterLoadAssignment), name).toEqual(before.get(name)!.active.get(TypeUrl.ClusterLoadAssignment));
        expect(await envoys.get(name)!.rejectedUpdates(), name).toEqual({});
      }
    } finally {
      await load.stop();
      // Back to two replicas for what follows.
      if (mesh.replicas[victim]) await mesh.replicas[victim].launch();
    }
  });

  it('an Envoy whose token is denied, or whose workload is deregistered, gets its stream ended and no further secrets; its certificate expires on schedule', async () => {
    const intruder = envoys.get('intruder')!;
    const leafOf = async (envoy: TestEnvoy): Promise<{ serial: string; expires: number }> => {
      const leaf = (await envoy.admin.certs()).flatMap((c) => c.cert_chain ?? [])[0];
      return { serial: leaf.serial_number, expires: Date.parse(leaf.expiration_time ?? '') };
    };
    const sdsUpdates = async (envoy: TestEnvoy): Promise<number> => statSum(envoy, '^sds\\.default\\.update_success$');
    const jti = mesh.bootstrapTokenId('mesh-intruder');
    const logFrom = intruder.process.log().length;
    const deniedAt = Date.now();
    expect((await mesh.api.request('POST', '/v1/tokens/deny', { tokenId: jti })).status).toBe(200);
    const closed = await intruder.waitFor('its ADS stream to end with PERMISSION_DENIED', async () =>
      /config stream to accord-xds closed: 7, ([^\n]*)/.exec(intruder.process.log().slice(logFrom))?.[1],
    );
    const endedMs = Date.now() - deniedAt;
    // Replicas re-read the deny-list every second: until the other one has, a reconnect may still be
    // served there (and ended there too). From the first refusal at connect on, nothing more comes.
    await intruder.waitFor('a reconnect refused at connect', async () =>
      /config stream to accord-xds closed: 16, workload%20token%20rejected/.test(intruder.process.log().slice(logFrom)) ? true : undefined,
    );
    const refusedMs = Date.now() - deniedAt;
    // payments-2 was deregistered earlier: its stream ended the same way.
    const payments2 = envoys.get('payments-2')!;
    expect(payments2.process.log()).toMatch(/config stream to accord-xds closed: 7, stream%20no%20longer%20authorized[^\n]*deregistered/);

    const held = new Map<string, { leaf: { serial: string; expires: number }; updates: number }>();
    for (const [name, envoy] of [['intruder', intruder], ['payments-2', payments2]] as const) {
      held.set(name, { leaf: await leafOf(envoy), updates: await sdsUpdates(envoy) });
    }
    const lastExpiry = Math.max(...[...held.values()].map((h) => h.leaf.expires));
    await eventually('their certificates to expire', async () => (Date.now() > lastExpiry + 1_000 ? true : undefined), 30_000);
    for (const [name, envoy] of [['intruder', intruder], ['payments-2', payments2]] as const) {
      const now = await leafOf(envoy);
      expect(now, name).toEqual(held.get(name)!.leaf);
      expect(await sdsUpdates(envoy), name).toBe(held.get(name)!.updates);
      expect((await envoy.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state'), name).toBe(0);
    }
    console.log(`token denied: intruder's stream ended ${endedMs} ms later, reconnects refused from ${refusedMs} ms (${decodeURIComponent(closed).slice(0, 160)}); intruder and payments-2 kept serials ${[...held.values()].map((h) => h.leaf.serial).join(', ')} until they expired, no SDS update since`);
  });

  it('continuous load through ≥ 5 leaf rotations and a full root rotation P0–P4: zero failed requests, long-lived connections stay, new handshakes show the new serial', async () => {
    const payments = envoys.get('payments-1')!;
    const leafSerial = async (envoy: TestEnvoy): Promise<string> => normalSerial((await envoy.admin.certs()).flatMap((c) => c.cert_chain ?? [])[0]?.serial_number ?? '');
    const bundleBefore = await (await fetch(`${mesh.api.http}/v1/ca/bundle`)).text();

    // A long-lived connection opened before any rotation, used all along.
    const longLived = new CountingAgent();
    const longLivedFailures: string[] = [];
    let longLivedOk = 0;
    let running = true;
    const longLoop = (async () => {
      while (running) {
        await httpGet(port.ordersToPayments, { agent: longLived }).then(
          (a) => (a.status === 200 && a.body === 'payments-1' ? (longLivedOk += 1) : longLivedFailures.push(`HTTP ${a.status}`)),
          (error: Error) => longLivedFailures.push(error.message),
        );
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const loops = Array.from({ length: 6 }, () => new RequestLoop([port.ordersToPayments], (a) => a.status === 200 && a.body === 'payments-1', 2));
    const startedAt = Date.now();
    const serialsInCerts = new Set<string>([await leafSerial(payments)]);
    const presented = new Set<string>();
    const mismatches: string[] = [];
    const phases: string[] = [];
    try {
      await eventually('the long-lived connection open and used', async () => (longLivedOk >= 3 && loops.every((loop) => loop.ok > 0) ? true : undefined));
      const rotate = await mesh.api.request('POST', '/v1/ca/rotate', {});
      expect(rotate.status, JSON.stringify(rotate.body)).toBe(200);
      await eventually('≥ 5 leaf rotations and the root rotation done', async () => {
        const status = (await mesh.api.request('GET', '/v1/ca')).body as { rootRotation: { phase: string } };
        if (phases.at(-1) !== status.rootRotation.phase) phases.push(status.rootRotation.phase);
        // What a new handshake presents, between two readings of Envoy's /certs.
        const before = await leafSerial(payments);
        const shown = await presentedSerial('127.0.0.3', port.paymentsMesh);
        const after = await leafSerial(payments);
        serialsInCerts.add(before).add(after);
        if (before === after) {
          if (shown !== before) mismatches.push(`handshake presented ${shown}, /certs says ${before}`);
          else presented.add(shown);
        }
        return presented.size >= 6 && phases.includes('P4_RETIRED') ? true : undefined;
      }, 120_000);
    } finally {
      running = false;
      await longLoop;
      await Promise.all(loops.map((loop) => loop.stop()));
    }
    const seconds = (Date.now() - startedAt) / 1000;
    const ok = loops.reduce((sum, loop) => sum + loop.ok, 0) + longLivedOk;
    const failures = [...loops.flatMap((loop) => loop.failures), ...longLivedFailures];
    console.log(
      `rotations under load: ${ok} requests in ${seconds.toFixed(1)} s (${(ok / seconds).toFixed(0)}/s), ${failures.length} failed; ` +
        `payments' leaf serials ${serialsInCerts.size} (${presented.size} seen in new handshakes); root rotation phases ${phases.join(' → ')}; ` +
        `long-lived connection: ${longLivedOk} requests over ${longLived.connections} connection(s)`,
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect(mismatches).toEqual([]);
    expect(presented.size - 1).toBeGreaterThanOrEqual(5);
    expect(ok / seconds).toBeGreaterThanOrEqual(100);
    expect(longLived.connections).toBe(1);
    expect(longLivedOk).toBeGreaterThan(0);

    // The new handshakes chain to the new root.
    const bundleAfter = await (await fetch(`${mesh.api.http}/v1/ca/bundle`)).text();
    expect(bundleAfter).not.toBe(bundleBefore);
    const chain = await presentedChain('127.0.0.3', port.paymentsMesh);
    expect(chain.intermediate.verify(new X509Certificate(bundleAfter).publicKey)).toBe(true);
    longLived.destroy();
    for (const envoy of [payments, envoys.get('orders')!, envoys.get('ledger')!]) expect(await envoy.rejectedUpdates(), envoy.name).toEqual({});
  });

  // Last: orders is revoked for good.
  it('revoking orders: its new requests to payments fail within 2 s, refused by the CRL in payments\' validation context', async () => {
    const payments = envoys.get('payments-1')!;
    const secretOf = async (): Promise<string> => JSON.stringify((await payments.dump()).active.get('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret')?.get('ROOTCA')?.resource ?? {});

    // First a certificate only the CRL can stop: a second orders workload's, signed from a CSR,
    // revoked by serial (orders as an identity is still allowed by RBAC).
    const probe = await mesh.register({ service: 'orders', address: '127.0.0.7', port: 9, meshPort: 9 });
    const dir = fleet.scratchDir('probe');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
    const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=probe'], { encoding: 'utf8' });
    // The registration reaches the CA's view of workloads a moment later.
    const { certChainPem, serial } = await eventually('a certificate for the probe', async () => {
      const signed = await fetch(`${mesh.api.http}/v1/agent/certificate`, { method: 'POST', headers: { authorization: `Bearer ${probe.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ csr }) });
      if (signed.status !== 200) throw new Error(`HTTP ${signed.status} ${await signed.text()}`);
      return (await signed.json()) as { certChainPem: string; serial: string };
    });
    const pem = { cert: certChainPem, key: readFileSync(key, 'utf8') };
    expect(await tlsRequest('127.0.0.3', port.paymentsMesh, pem)).toMatch(/^HTTP\/1\.1 200/);
    const revokedAt = Date.now();
    expect((await mesh.api.request('POST', '/v1/ca/revoke', { serial })).status).toBe(200);
    const refused = await eventually('a handshake with the revoked certificate to fail', async () => {
      const result = await tlsRequest('127.0.0.3', port.paymentsMesh, pem);
      return /^HTTP\//.test(result) ? undefined : result;
    }, 10_000);
    const crlMs = Date.now() - revokedAt;
    expect(await secretOf()).toMatch(/"crl".*"only_verify_leaf_cert_crl":true/);
    console.log(`revoked serial: new handshakes refused ${crlMs} ms after the revocation (${refused.slice(0, 120)})`);
    expect(crlMs).toBeLessThan(10_000);

    // Then orders itself, whose Envoy calls payments in a loop of new requests.
    const failVerifyBefore = await statSum(payments, `^listener\\..*_${port.paymentsMesh}\\.ssl\\.fail_verify_error$`);
    const results: { at: number; ok: boolean }[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const at = Date.now();
        const ok = await httpGet(port.ordersToPayments, { fresh: true, timeoutMs: 5_000 }).then((a) => a.status === 200, () => false);
        results.push({ at, ok });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      await eventually('requests before the revocation', async () => (results.filter((r) => r.ok).length >= 10 ? true : undefined));
      // The probe goes first, so that revoking orders revokes every workload of its identity.
      expect((await mesh.api.request('DELETE', `/v1/workloads/${probe.id}`)).status).toBe(204);
      const ordersRevokedAt = Date.now();
      expect((await mesh.api.request('POST', '/v1/ca/revoke', { workload: ids.get('orders')!.id })).status).toBe(200);
      // The moment from which every new request failed, for at least 3 s.
      const failingSince = await eventually('every new request to fail for 3 s', async () => {
        const after = results.filter((r) => r.at >= ordersRevokedAt);
        const lastOk = after.filter((r) => r.ok).at(-1);
        const since = after.find((r) => !r.ok && (!lastOk || r.at > lastOk.at));
        return since && Date.now() - since.at >= 3_000 ? since.at : undefined;
      }, 30_000);
      const ms = failingSince - ordersRevokedAt;
      console.log(`revoked orders: every new request to payments failed from ${ms} ms after the revocation (${results.filter((r) => r.at >= ordersRevokedAt).length} requests since)`);
      expect(ms).toBeLessThan(10_000);
      // Envoy's own account: handshakes with orders' revoked certificate refused by payments.
      await eventually('payments\' Envoy to refuse a handshake with the revoked certificate', async () =>
        (await statSum(payments, `^listener\\..*_${port.paymentsMesh}\\.ssl\\.fail_verify_error$`)) > failVerifyBefore ? true : undefined,
      );
    } finally {
      running = false;
      await loop;
    }
  });
});
