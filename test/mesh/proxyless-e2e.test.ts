/**
 * The proxyless flavour against the real client: grpc-js-xds fetches our resources from a test
 * ADS server, an XdsServer serves over mTLS with certificates from file_watcher, and RBAC decides
 * per caller identity and path.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeshTranslator, type MeshInput, type ProxyResources } from '../../src/mesh/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TestAdsServer } from './support/test-ads-server.js';
import { TestCa, type CertFiles } from './support/test-certs.js';
import { scenarioFrom, type ScenarioFile } from './support/scenario.js';

type XdsModule = typeof import('@grpc/grpc-js-xds');
const BOOTSTRAP_OPTION = 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function bootstrap(adsPort: number, nodeId: string, certs: CertFiles): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: `127.0.0.1:${adsPort}`, channel_creds: [{ type: 'insecure' }], server_features: [] }],
    node: { id: nodeId, cluster: nodeId, locality: { zone: 'z1' } },
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
const method = (name: string): grpc.MethodDefinition<Buffer, Buffer> => ({
  path: `/test.Echo/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: identity,
  requestDeserialize: identity,
  responseSerialize: identity,
  responseDeserialize: identity,
});

describe('proxyless gRPC end to end', () => {
  let dir: string;
  let xds: XdsModule;
  let ads: TestAdsServer;
  let adsPort: number;
  let server: InstanceType<XdsModule['XdsServer']>;
  let ca: TestCa;
  let strict: MeshInput;
  let permissive: MeshInput;
  let current: MeshInput;
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
    xds = await import('@grpc/grpc-js-xds');
    xds.register();
    dir = mkdtempSync(path.join(tmpdir(), 'accord-mesh-e2e-'));
    ca = new TestCa(dir);
    const appPort = await freePort();
    const file: ScenarioFile = {
      workloads: [
        { id: 'payments-1', service: 'payments', address: '127.0.0.1', port: appPort, protocol: 'grpc', locality: { zone: 'z1' } },
        { id: 'checkout-1', service: 'checkout', address: '127.0.0.1', port: 1, protocol: 'grpc', upstreams: [{ service: 'payments', localPort: 1 }] },
        { id: 'intruder-1', service: 'intruder', address: '127.0.0.1', port: 2, protocol: 'grpc', upstreams: [{ service: 'payments', localPort: 1 }] },
      ],
      trafficPolicies: [{ metadata: { name: 'payments' }, spec: { target: 'payments', requestTimeoutMs: 5000, retries: { attempts: 2, retryOn: ['unavailable'] } } }],
      authorizationPolicies: [
        { metadata: { name: 'callers' }, spec: { target: 'payments', action: 'ALLOW', rules: [{ from: [{ service: 'checkout' }], to: [{ paths: ['/test.Echo/*'] }] }] } },
        { metadata: { name: 'no-forbidden' }, spec: { target: 'payments', action: 'DENY', rules: [{ to: [{ paths: ['/test.Echo/Forbidden'] }] }] } },
      ],
    };
    strict = scenarioFrom(file).input;
    permissive = scenarioFrom({ ...file, mesh: { mtls: 'PERMISSIVE' } }).input;
    current = strict;
    const translator = new MeshTranslator();
    const resourcesFor = (nodeId: string): ProxyResources => translator.translate(current, nodeId, 'grpc');
    ads = new TestAdsServer(loadEnvoyProtos(), resourcesFor);
    adsPort = await ads.start();

    const serverCerts = ca.issue('payments', 'spiffe://mesh.local/ns/default/sa/payments');
    server = new xds.XdsServer({ [BOOTSTRAP_OPTION]: bootstrap(adsPort, 'payments-1', serverCerts), drainGraceTimeMs: 100 });
    const echo: grpc.handleUnaryCall<Buffer, Buffer> = (call, callback) => callback(null, call.request);
    server.addService({ Say: method('Say'), Forbidden: method('Forbidden') }, { Say: echo, Forbidden: echo });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('xDS server never started serving')), 20_000);
      server.bindAsync(`127.0.0.1:${appPort}`, new xds.XdsServerCredentials(grpc.ServerCredentials.createInsecure()), (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
  }, 40_000);

  afterAll(() => {
    for (const client of clients) client.close();
    server?.forceShutdown();
    ads?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function call(nodeId: string, sa: string, name: string): Promise<{ code: grpc.status; reply?: string }> {
    const certs = ca.issue(nodeId, `spiffe://mesh.local/ns/default/sa/${sa}`);
    const client = new grpc.Client('xds:///payments', new xds.XdsChannelCredentials(grpc.credentials.createInsecure()), {
      [BOOTSTRAP_OPTION]: bootstrap(adsPort, nodeId, certs),
    });
    clients.push(client);
    return new Promise((resolve) => {
      client.makeUnaryRequest(`/test.Echo/${name}`, identity, identity, Buffer.from('ping'), { deadline: Date.now() + 15_000 }, (error, reply) =>
        resolve(error ? { code: error.code } : { code: grpc.status.OK, reply: reply?.toString() }),
      );
    });
  }

  it('routes an allowed caller’s RPC over mTLS', async () => {
    expect(await call('checkout-1', 'checkout', 'Say')).toEqual({ code: grpc.status.OK, reply: 'ping' });
    expect(ads.nacks).toEqual([]);
  }, 30_000);

  it('denies a caller that no ALLOW policy names', async () => {
    expect((await call('intruder-1', 'intruder', 'Say')).code).toBe(grpc.status.PERMISSION_DENIED);
  }, 30_000);

  it('lets DENY win over ALLOW', async () => {
    expect((await call('checkout-1', 'checkout', 'Forbidden')).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(ads.nacks).toEqual([]);
  }, 30_000);

  it('keeps serving across STRICT → PERMISSIVE → STRICT (the chain layout never changes)', async () => {
    for (const mode of [permissive, strict]) {
      current = mode;
      const version = ads.push();
      await ads.waitForAck('payments-1', TypeUrl.Listener, version);
      expect(await call('checkout-1', 'checkout', 'Say')).toEqual({ code: grpc.status.OK, reply: 'ping' });
      expect((await call('intruder-1', 'intruder', 'Say')).code).toBe(grpc.status.PERMISSION_DENIED);
    }
    expect(ads.nacks).toEqual([]);
  }, 40_000);
});
