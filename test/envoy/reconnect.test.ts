/**
 * A control-plane restart under traffic. Three real Envoys (payments and orders-1 over Delta,
 * orders-2 over SotW) carry requests from the test to a payments app over mTLS with certificates
 * from SDS. `accord serve --redis` is killed and started again on the same Redis and ports: the
 * Envoys keep serving from the config they hold, reconnect (Delta with its
 * initial_resource_versions), and converge on the same resource versions without rejecting
 * anything. Not one request fails.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { AccordProcess, OPERATOR_TOKEN } from '../e2e/processes.js';
import { ENVOY_TEST_TIMEOUT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { versionsOf, type DumpView } from '../support/envoy-dump.js';
import { freeListenPorts } from '../support/relocate-ports.js';
import { RequestLoop, httpGet } from '../support/envoy-traffic.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

const REDIS = 'redis://127.0.0.1:6379';
const CONFIG_TYPES = [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment] as const;

async function connected(envoy: TestEnvoy): Promise<number | undefined> {
  return (await envoy.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state');
}

interface ProxyRow {
  nodeId: string;
  types: { typeUrl: string; mode: 'sotw' | 'delta'; ackedVersion?: string; resources: { name: string; version: string; status: string }[] }[];
}

/** Per type, the content version of every resource Accord's stream for `nodeId` sent. */
async function sentVersions(accord: AccordProcess, nodeId: string): Promise<Record<string, Record<string, string>>> {
  const { proxies } = (await accord.request('GET', '/v1/proxies')).body as { proxies: ProxyRow[] };
  const row = proxies.find((r) => r.nodeId === nodeId);
  if (!row) throw new Error(`no stream for ${nodeId}`);
  return Object.fromEntries(row.types.map((type) => [type.typeUrl, Object.fromEntries(type.resources.map((r) => [r.name, r.version]).sort())]));
}

/**
 * Envoy's config dump once it holds exactly what Accord's stream for `nodeId` sent, every resource
 * ACKed, with the versions Accord sent where Envoy's dump shows them.
 */
async function heldAsSent(accord: AccordProcess, nodeId: string, envoy: TestEnvoy): Promise<DumpView | undefined> {
  const { proxies } = (await accord.request('GET', '/v1/proxies')).body as { proxies: ProxyRow[] };
  const rows = proxies.filter((row) => row.nodeId === nodeId);
  if (rows.length !== 1) throw new Error(`${rows.length} streams for ${nodeId}`);
  const view = await envoy.dump();
  for (const type of rows[0].types) {
    const held = versionsOf(view, type.typeUrl);
    for (const resource of type.resources) {
      if (resource.status !== 'ACKED') throw new Error(`${resource.name} is ${resource.status}`);
      // Envoy rebuilds its endpoint dump from host sets: no version there to compare. In SotW a
      // resource's version is that of the response that carried it, and RDS and SDS responses
      // carry only what changed: only full-state LDS and CDS hold the latest response version.
      if (type.typeUrl === TypeUrl.ClusterLoadAssignment) continue;
      if (type.mode === 'sotw' && type.typeUrl !== TypeUrl.Listener && type.typeUrl !== TypeUrl.Cluster) continue;
      const want = type.mode === 'delta' ? resource.version : type.ackedVersion;
      if (held[resource.name] !== want) throw new Error(`${type.typeUrl} ${resource.name}: Envoy holds ${held[resource.name]}, Accord sent ${want}`);
    }
  }
  return view;
}

describe('control-plane restart under traffic, real Envoy over Delta and SotW', () => {
  const fleet = useEnvoyFleet();
  const prefix = `accord-envoy-${randomBytes(4).toString('hex')}`;
  let accord: AccordProcess;
  let app: Server;
  let appSawCallers: string[] = [];
  let ports: Record<'paymentsApp' | 'paymentsMesh' | 'ordersMesh' | 'upstream1' | 'upstream2', number>;
  const envoys = new Map<string, TestEnvoy>();
  const ids = new Map<string, string>();
  const expected = new Map<string, Record<string, string[]>>();

  beforeAll(async () => {
    const [paymentsApp, paymentsMesh, ordersMesh, upstream1, upstream2] = await freeListenPorts(5);
    ports = { paymentsApp, paymentsMesh, ordersMesh, upstream1, upstream2 };
    app = createServer((req, res) => {
      appSawCallers.push(String(req.headers['x-forwarded-client-cert'] ?? ''));
      res.end('payments');
    });
    await new Promise<void>((resolve) => app.listen(paymentsApp, '127.0.0.1', resolve));

    accord = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    const register = async (body: Record<string, unknown>): Promise<string> => {
      const response = await accord.request('POST', '/v1/workloads', body);
      expect(response.status, JSON.stringify(response.body)).toBe(201);
      return (response.body as { id: string }).id;
    };
    const payments = await register({ service: 'payments', address: '127.0.0.3', port: paymentsApp, meshPort: paymentsMesh });
    const orders1 = await register({ service: 'orders', address: '127.0.0.2', port: 18_081, meshPort: ordersMesh, upstreams: [{ service: 'payments', localPort: upstream1 }] });
    const orders2 = await register({ service: 'orders', address: '127.0.0.4', port: 18_081, meshPort: ordersMesh, upstreams: [{ service: 'payments', localPort: upstream2 }] });

    const bootstrap = async (id: string, delta: boolean): Promise<string> => {
      const response = await fetch(`${accord.http}/v1/workloads/${id}/bootstrap?format=envoy${delta ? '&delta=true' : ''}`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
      expect(response.status).toBe(200);
      return response.text();
    };
    const outbound = (upstream: number): Record<string, string[]> => ({
      [TypeUrl.Listener]: [`inbound|${ordersMesh}`, `outbound|${upstream}`],
      [TypeUrl.RouteConfiguration]: ['payments.default'],
      [TypeUrl.Cluster]: ['inbound|18081', 'outbound.payments.default'],
      [TypeUrl.ClusterLoadAssignment]: ['inbound|18081', 'outbound.payments.default'],
      [TypeUrl.Secret]: ['ROOTCA', 'default'],
    });
    expected.set('payments', {
      [TypeUrl.Listener]: [`inbound|${paymentsMesh}`],
      [TypeUrl.RouteConfiguration]: [],
      [TypeUrl.Cluster]: [`inbound|${paymentsApp}`],
      [TypeUrl.ClusterLoadAssignment]: [`inbound|${paymentsApp}`],
      [TypeUrl.Secret]: ['ROOTCA', 'default'],
    });
    expected.set('orders-1', outbound(upstream1));
    expected.set('orders-2', outbound(upstream2));
    const [p, o1, o2] = await Promise.all([
      bootstrap(payments, true).then((b) => fleet.start('reconnect-payments-delta', b, { componentLogLevel: 'config:debug' })),
      bootstrap(orders1, true).then((b) => fleet.start('reconnect-orders-1-delta', b, { componentLogLevel: 'config:debug' })),
      bootstrap(orders2, false).then((b) => fleet.start('reconnect-orders-2-sotw', b)),
    ]);
    ids.set('payments', payments);
    ids.set('orders-1', orders1);
    ids.set('orders-2', orders2);
    envoys.set('payments', p);
    envoys.set('orders-1', o1);
    envoys.set('orders-2', o2);
  });

  afterAll(async () => {
    await fleet.stopAll();
    await accord?.stop();
    await new Promise((resolve) => app?.close(resolve));
    const redis = new Redis(REDIS);
    const keys = [...(await redis.keys(`${prefix}*`)), ...(await redis.keys(`{${prefix}}*`))];
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  async function syncedViews(): Promise<Map<string, DumpView>> {
    const views = new Map<string, DumpView>();
    await Promise.all([...envoys].map(async ([name, envoy]) => views.set(name, await envoy.waitUntilSynced(expected.get(name)!))));
    return views;
  }

  it('keeps serving through a control-plane restart and converges: same config versions, nothing re-sent that Envoy holds, nothing rejected', async () => {
    const before = await syncedViews();
    const sentBefore = new Map<string, Record<string, Record<string, string>>>();
    for (const [name, envoy] of envoys) {
      await envoy.waitFor('Envoy to hold what Accord sent', () => heldAsSent(accord, ids.get(name)!, envoy));
      sentBefore.set(name, await sentVersions(accord, ids.get(name)!));
    }
    // orders → payments through both sidecars, over mTLS with certificates from SDS.
    appSawCallers = [];
    expect(await httpGet(ports.upstream1, { fresh: true })).toMatchObject({ status: 200, body: 'payments' });
    expect(await httpGet(ports.upstream2, { fresh: true })).toMatchObject({ status: 200, body: 'payments' });
    expect(appSawCallers.every((xfcc) => xfcc.includes('URI=spiffe://mesh.local/ns/default/sa/orders'))).toBe(true);

    const load = new RequestLoop([ports.upstream1, ports.upstream2], (answer) => answer.status === 200 && answer.body === 'payments');
    try {
      await envoys.get('orders-1')!.waitFor('some requests before the restart', async () => (load.ok >= 20 ? true : undefined));
      const logOffsets = new Map([...envoys].map(([name, envoy]) => [name, envoy.process.log().length]));
      accord.kill9();
      await accord.stop();
      // Every Envoy notices the control plane is gone, and traffic keeps flowing meanwhile.
      await Promise.all([...envoys.values()].map((envoy) => envoy.waitFor('the control plane to be gone', async () => ((await connected(envoy)) === 0 ? true : undefined))));
      const okWhileDown = load.ok;
      await envoys.get('orders-1')!.waitFor('requests served while the control plane is down', async () => (load.ok >= okWhileDown + 50 ? true : undefined));

      await accord.launch();
      await syncedViews();
      for (const [name, envoy] of envoys) {
        const after = await envoy.waitFor('Envoy to hold exactly what the restarted Accord sent, all ACKed', () => heldAsSent(accord, ids.get(name)!, envoy));
        expect(await connected(envoy), name).toBe(1);
        expect(await envoy.rejectedUpdates(), name).toEqual({});
        expect(envoy.rejectionsInLog(), name).toEqual([]);
        // Listeners, routes, clusters and endpoints are content-hashed: the restarted Accord has the
        // same versions, and Envoy holds the same listeners, routes and clusters and the same endpoints.
        const sentAfter = await sentVersions(accord, ids.get(name)!);
        for (const typeUrl of CONFIG_TYPES) {
          expect(sentAfter[typeUrl], `${name} ${typeUrl}`).toEqual(sentBefore.get(name)![typeUrl]);
          if (typeUrl !== TypeUrl.ClusterLoadAssignment) expect(versionsOf(after, typeUrl), `${name} ${typeUrl}`).toEqual(versionsOf(before.get(name)!, typeUrl));
        }
        expect(after.active.get(TypeUrl.ClusterLoadAssignment), name).toEqual(before.get(name)!.active.get(TypeUrl.ClusterLoadAssignment));
        // Still its own identity (a restarted replica issues a fresh certificate: keys are never stored).
        const uris = (await envoy.admin.certs()).flatMap((c) => (c.cert_chain ?? []).flatMap((cert) => (cert.subject_alt_names ?? []).map((san) => san.uri)));
        expect(new Set(uris), name).toEqual(new Set([`spiffe://mesh.local/ns/default/sa/${name === 'payments' ? 'payments' : 'orders'}`]));
        const secretsBefore = versionsOf(before.get(name)!, TypeUrl.Secret);
        const secretsAfter = versionsOf(after, TypeUrl.Secret);
        console.log(`${name}: secrets with a new version after the restart: ${Object.keys(secretsAfter).filter((secret) => secretsAfter[secret] !== secretsBefore[secret]).join(', ') || 'none'}`);
      }
      // Delta: Envoy's initial_resource_versions told the new replica what it holds, so the
      // wildcard types come back with nothing added (Envoy's own account, config:debug).
      for (const name of ['payments', 'orders-1']) {
        const since = envoys.get(name)!.process.log().slice(logOffsets.get(name));
        const accepted = [...since.matchAll(/Delta config for (\S+) accepted with (\d+) resources added, (\d+) removed/g)].map((m) => ({ type: m[1], added: Number(m[2]), removed: Number(m[3]) }));
        expect(accepted.filter((a) => a.type === TypeUrl.Listener || a.type === TypeUrl.Cluster).filter((a) => a.added + a.removed > 0), name).toEqual([]);
        expect(accepted.length, `${name}: Envoy's debug log shows the responses after the restart`).toBeGreaterThan(0);
      }
      const okAfterRestart = load.ok;
      await envoys.get('orders-1')!.waitFor('requests served after the restart', async () => (load.ok >= okAfterRestart + 50 ? true : undefined));
    } finally {
      await load.stop();
    }
    expect(load.failures).toEqual([]);
    console.log(`control-plane restart: ${load.ok} requests through Envoy, ${load.failures.length} failed`);
  });
});
