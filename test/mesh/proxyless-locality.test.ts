/**
 * Locality failover for proxyless gRPC, with the real client: grpc-js-xds receives the
 * translator's priorities (caller's zone 0, other zone 1) from a test ADS server, and xDS-enabled
 * servers in two zones serve over mTLS. What gRPC can do: keep calls in its zone, move them to
 * the other zone when the zone's servers are gone (connections refused) or deregistered, and come
 * back. What it cannot (no consecutive-error ejection) is documented in docs/configuration.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshTranslator, type MeshInput, type ProxyResources } from '../../src/mesh/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { freePort } from '../support/grpc-xds-process.js';
import { TestAdsServer } from './support/test-ads-server.js';
import { TestCa, type CertFiles } from './support/test-certs.js';
import { scenarioFrom, type ScenarioWorkload } from './support/scenario.js';

type XdsModule = typeof import('@grpc/grpc-js-xds');
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';
const WINDOW = 300;

function bootstrap(adsPort: number, nodeId: string, certs: CertFiles): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: [] }],
    node: { id: nodeId, cluster: nodeId, locality: {} },
    server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
    certificate_providers: {
      default: {
        plugin_name: 'file_watcher',
        config: { certificate_file: certs.certificate, private_key_file: certs.privateKey, ca_certificate_file: certs.ca, refresh_interval: '1s' },
      },
    },
  });
}

const identity = (b: Buffer): Buffer => b;
const WHO: grpc.MethodDefinition<Buffer, Buffer> = {
  path: '/test.Echo/Who',
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
};

type Outcome = 'A' | 'B' | 'fail';

function tally(outcomes: readonly Outcome[]): { a: number; b: number; failed: number; total: number } {
  return {
    a: outcomes.filter((o) => o === 'A').length,
    b: outcomes.filter((o) => o === 'B').length,
    failed: outcomes.filter((o) => o === 'fail').length,
    total: outcomes.length,
  };
}

function report(label: string, outcomes: readonly Outcome[]): ReturnType<typeof tally> {
  const t = tally(outcomes);
  console.log(`proxyless ${label}: ${t.total} calls, zone A ${t.a} (${((100 * t.a) / t.total).toFixed(1)} %), zone B ${t.b}, failed ${t.failed}`);
  return t;
}

describe('proxyless gRPC locality failover (grpc-js-xds)', () => {
  let dir: string;
  let xds: XdsModule;
  let ads: TestAdsServer;
  let adsPort: number;
  let ca: TestCa;
  let client: grpc.Client;
  let workloads: ScenarioWorkload[];
  let current: MeshInput;
  const servers = new Map<string, InstanceType<XdsModule['XdsServer']>>();

  const input = (list: readonly ScenarioWorkload[]): MeshInput =>
    scenarioFrom({
      workloads: [...list],
      trafficPolicies: [{ metadata: { name: 'api' }, spec: { target: 'api', retries: { attempts: 3, retryOn: ['unavailable'] } } }],
    }).input;

  async function serve(w: ScenarioWorkload): Promise<void> {
    const server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: bootstrap(adsPort, w.id, ca.issue(w.id, 'spiffe://mesh.local/ns/default/sa/api')), drainGraceTimeMs: 100 });
    server.addService({ Who: WHO }, { Who: ((_call, callback) => callback(null, Buffer.from(w.id))) as grpc.handleUnaryCall<Buffer, Buffer> });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${w.id} never started serving`)), 20_000);
      server.bindAsync(`${w.address}:${w.port}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
    servers.set(w.id, server);
  }

  function stopServer(id: string): void {
    servers.get(id)?.forceShutdown();
    servers.delete(id);
  }

  const call = (): Promise<Outcome> =>
    new Promise((resolve) => {
      client.makeUnaryRequest(WHO.path, identity, identity, Buffer.from('who'), { deadline: Date.now() + 10_000 }, (error, reply) =>
        resolve(error ? 'fail' : reply?.toString().startsWith('api-a') ? 'A' : 'B'),
      );
    });

  async function calls(n: number): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    for (let i = 0; i < n; i++) outcomes.push(await call());
    return outcomes;
  }

  /** Calls until the last `count` satisfy `check`, within generous bounds. */
  async function callUntil(what: string, count: number, check: (recent: Outcome[]) => boolean): Promise<void> {
    const recent: Outcome[] = [];
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      recent.push(await call());
      if (recent.length > count) recent.shift();
      if (recent.length === count && check(recent)) return;
    }
    throw new Error(`timed out waiting for ${what}; last: ${recent.slice(-20).join(',')}`);
  }

  beforeAll(async () => {
    process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
    xds = await import('@grpc/grpc-js-xds');
    xds.register();
    dir = mkdtempSync(path.join(tmpdir(), 'accord-proxyless-locality-'));
    ca = new TestCa(dir);
    const api = async (id: string, zone: string): Promise<ScenarioWorkload> => ({
      id,
      service: 'api',
      address: '127.0.0.1',
      port: await freePort(),
      protocol: 'grpc',
      locality: { region: 'eu', zone },
    });
    workloads = [
      await api('api-a1', 'zone-a'),
      await api('api-a2', 'zone-a'),
      await api('api-b1', 'zone-b'),
      await api('api-b2', 'zone-b'),
      { id: 'web-1', service: 'web', address: '127.0.0.1', port: 1, protocol: 'grpc', locality: { region: 'eu', zone: 'zone-a' }, upstreams: [{ service: 'api', localPort: 1 }] },
    ];
    current = input(workloads);
    const translator = new MeshTranslator();
    // A deregistered server keeps its last resources, as a proxy keeps its last config.
    const last = new Map<string, ProxyResources>();
    const resourcesFor = (nodeId: string): ProxyResources => {
      if (current.workloads.has(nodeId)) last.set(nodeId, translator.translate(current, nodeId, 'grpc'));
      return last.get(nodeId) ?? new Map();
    };
    ads = new TestAdsServer(loadEnvoyProtos(), resourcesFor);
    adsPort = await ads.start();
    for (const w of workloads.slice(0, 4)) await serve(w);
    client = new grpc.Client('xds:///api', new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      [BOOTSTRAP_OPTION]: bootstrap(adsPort, 'web-1', ca.issue('web-1', 'spiffe://mesh.local/ns/default/sa/web')),
    });
    await callUntil('the first answers', 10, (recent) => recent.every((o) => o !== 'fail'));
  }, 90_000);

  afterAll(() => {
    client?.close();
    for (const id of [...servers.keys()]) stopServer(id);
    ads?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`keeps ≥ 95 % of ${WINDOW} calls in the caller's zone`, async () => {
    const t = report('steady', await calls(WINDOW));
    expect(t.failed).toBe(0);
    expect(t.a / t.total).toBeGreaterThanOrEqual(0.95);
    expect(ads.nacks).toEqual([]);
  }, 60_000);

  it("moves to zone B when zone A's servers are gone, and back when they return", async () => {
    for (const id of ['api-a1', 'api-a2']) stopServer(id);
    const switching = report('servers gone, switch', await calls(WINDOW));
    const after = report('servers gone, after', await calls(WINDOW));
    expect(switching.failed / switching.total).toBeLessThan(0.01);
    expect(after).toMatchObject({ failed: 0, b: WINDOW });
    for (const w of workloads.slice(0, 2)) await serve(w);
    // The client reconnects with backoff; the zone is back once its connections are.
    await callUntil('zone A back', 100, (recent) => tally(recent).a >= 98);
    const back = report('servers back', await calls(WINDOW));
    expect(back.failed).toBe(0);
    expect(back.a / back.total).toBeGreaterThanOrEqual(0.95);
  }, 180_000);

  it("moves to zone B when zone A's workloads are deregistered, and back when they register again", async () => {
    current = input(workloads.filter((w) => !w.id.startsWith('api-a')));
    await ads.waitForAck('web-1', TypeUrl.ClusterLoadAssignment, ads.push());
    const after = report('deregistered', await calls(WINDOW));
    expect(after).toMatchObject({ failed: 0, b: WINDOW });
    current = input(workloads);
    await ads.waitForAck('web-1', TypeUrl.ClusterLoadAssignment, ads.push());
    await callUntil('zone A back', 100, (recent) => tally(recent).a >= 98);
    const back = report('registered again', await calls(WINDOW));
    expect(back.failed).toBe(0);
    expect(back.a / back.total).toBeGreaterThanOrEqual(0.95);
    expect(ads.nacks).toEqual([]);
  }, 180_000);
});
