// Issue #9, "make it stay fixed": every gRPC method the server exposes, taken from the grpc-js
// Server itself (not a hand list), is called without credentials and with a workload token. Only
// the documented open ones answer: xDS discovery methods authenticate per workload (the workload's
// own token opens them; nothing else does); CSDS and accord.v1.Registry need the operator token.
// A method added without a row in ACCESS fails this test until its access is decided.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PER_TYPE_SERVICES } from '../../src/xds/services.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

type Access = 'workload' | 'operator';
/** Who may call each service, as documented in README.md and docs/security.md. */
const ACCESS: readonly [RegExp, Access][] = [
  [/^\/envoy\.service\.discovery\.v3\.AggregatedDiscoveryService\//, 'workload'],
  [/^\/envoy\.service\.(listener|route|cluster|endpoint|secret)\.v3\.\w+DiscoveryService\//, 'workload'],
  [/^\/envoy\.service\.status\.v3\.ClientStatusDiscoveryService\//, 'operator'],
  [/^\/accord\.v1\.Registry\//, 'operator'],
];

interface Handler {
  readonly type: 'unary' | 'clientStream' | 'serverStream' | 'bidi';
  readonly path: string;
}

type Outcome = { answered: true; how: string } | { answered: false; code: string; details: string };

const codec = new XdsCodec(loadEnvoyProtos());
const raw = (b: Buffer): Buffer => b;
/** A stream that is still open this long after its request, without an error, counts as answered. */
const ADMITTED_AFTER_MS = 1_500;

describe('gRPC surface: every method the server exposes, with no credentials and with a workload token', () => {
  let accord: TestAccord;
  let workload: { id: string; token: string };
  let client: grpc.Client;

  beforeAll(async () => {
    accord = await startTestAccord();
    workload = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'web', address: '10.0.0.1', port: 8080, upstreams: [{ service: 'web', localPort: 9001 }] } })).body as {
      id: string;
      token: string;
    };
    client = new grpc.Client(accord.xds, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client.close();
    await accord.close();
  });

  function methods(): Handler[] {
    const handlers = (accord.handle.xds.grpcServer as unknown as { handlers: Map<string, Handler> }).handlers;
    return [...handlers.values()];
  }

  /** The type a discovery method serves (ADS: clusters), and a request a sidecar of this workload would send. */
  function discoveryRequest(path: string): Buffer {
    const service = PER_TYPE_SERVICES.find((s) => path.startsWith(`/${s.service}/`));
    const typeUrl = service?.typeUrl ?? TypeUrl.Cluster;
    const names = typeUrl === TypeUrl.Secret ? ['default'] : typeUrl === TypeUrl.Cluster || typeUrl === TypeUrl.Listener ? [] : ['outbound|9001||web.default'];
    const node = { id: workload.id, user_agent_name: 'envoy', locality: { zone: 'z' } };
    const delta = /\/Delta\w+$/.test(path);
    return delta
      ? codec.encode(codec.deltaRequest, { node, type_url: typeUrl, resource_names_subscribe: names.length > 0 ? names : ['*'] })
      : codec.encode(codec.discoveryRequest, { node, type_url: typeUrl, resource_names: names });
  }

  function requestFor(method: Handler): Buffer {
    if (method.path.startsWith('/envoy.service.status.')) return codec.encode(codec.clientStatusRequest, {});
    if (method.path.startsWith('/envoy.service.')) return discoveryRequest(method.path);
    return Buffer.alloc(0);
  }

  function invoke(method: Handler, token: string | undefined): Promise<Outcome> {
    const metadata = new grpc.Metadata();
    if (token) metadata.set('authorization', `Bearer ${token}`);
    const body = requestFor(method);
    const refused = (error: grpc.ServiceError): Outcome => ({ answered: false, code: grpc.status[error.code], details: error.details });
    if (method.type === 'unary') {
      return new Promise((resolve) =>
        client.makeUnaryRequest(method.path, raw, raw, body, metadata, { deadline: Date.now() + 10_000 }, (error) =>
          resolve(error ? refused(error) : { answered: true, how: 'OK' }),
        ),
      );
    }
    if (method.type !== 'bidi') throw new Error(`${method.path}: ${method.type} methods are not expected on this server`);
    return new Promise((resolve) => {
      const call = client.makeBidiStreamRequest(method.path, raw, raw, metadata);
      let settled = false;
      const settle = (outcome: Outcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        call.cancel();
        resolve(outcome);
      };
      const timer = setTimeout(() => settle({ answered: true, how: 'stream admitted' }), ADMITTED_AFTER_MS);
      call.on('data', () => settle({ answered: true, how: 'data' }));
      call.on('error', (error: grpc.ServiceError) => settle(refused(error)));
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code !== grpc.status.OK) settle({ answered: false, code: grpc.status[status.code], details: status.details });
      });
      call.write(body);
    });
  }

  it('enumerates the methods from the server and finds every service it registered', () => {
    const paths = methods().map((m) => m.path);
    expect(paths.length).toBeGreaterThanOrEqual(2 + PER_TYPE_SERVICES.length * 3 + 2 + 5);
    for (const service of ['AggregatedDiscoveryService', 'ClientStatusDiscoveryService', 'accord.v1.Registry']) {
      expect(paths.some((p) => p.includes(service)), service).toBe(true);
    }
    const unclassified = paths.filter((path) => !ACCESS.some(([pattern]) => pattern.test(path)));
    expect(unclassified, 'methods without a documented access rule').toEqual([]);
  });

  it('nothing answers a caller without credentials', async () => {
    const answered: string[] = [];
    for (const method of methods()) {
      const outcome = await invoke(method, undefined);
      if (outcome.answered) answered.push(`${method.path} (${outcome.how})`);
      else expect(outcome.code, `${method.path}: ${outcome.details}`).toBe('UNAUTHENTICATED');
    }
    expect(answered).toEqual([]);
  });

  it('a workload token opens the discovery methods and nothing else', async () => {
    const wrong: string[] = [];
    for (const method of methods()) {
      const access = ACCESS.find(([pattern]) => pattern.test(method.path))?.[1];
      const outcome = await invoke(method, workload.token);
      if (access === 'workload' && !outcome.answered) wrong.push(`${method.path} refused its workload: ${outcome.code} ${outcome.details}`);
      if (access === 'operator') {
        if (outcome.answered) wrong.push(`${method.path} answered a workload token (${outcome.how})`);
        else expect(outcome.code, method.path).toBe('PERMISSION_DENIED');
      }
    }
    expect(wrong).toEqual([]);
  });
});
