import * as grpc from '@grpc/grpc-js';
import { createMetricsRegistry } from '../../../src/observability/metrics.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { afterEach, describe, expect, it } from 'vitest';
import { ResourceEncoder } from '../../../src/xds/encoder.js';
import { SnapshotCache } from '../../../src/xds/snapshot-cache.js';
import { TypeUrl } from '../../../src/xds/contract.js';
import { XdsServer } from '../../../src/xds/server.js';
import { envoyRoot } from './protos.js';

const root = envoyRoot();
const encoder = new ResourceEncoder(root);
const DiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const DiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const ClientStatusRequest = root.lookupType('envoy.service.status.v3.ClientStatusRequest');
const ClientStatusResponse = root.lookupType('envoy.service.status.v3.ClientStatusResponse');
const identity = (b: Buffer): Buffer => b;
const ADS = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const CSDS_FETCH = '/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(cache: SnapshotCache, statusReaders: 'everyone' | 'unconfigured' = 'everyone') {
  const server = new XdsServer({
    source: cache,
    root,
    logger: silentLogger(),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    controlPlaneId: 'unit-cp',
    ...(statusReaders === 'everyone' ? { authorizeStatusReader: () => undefined } : {}),
  });
  const port = await server.listen('127.0.0.1:0');
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close(), () => server.close(0));
  return { server, client };
}

function openAds(client: grpc.Client) {
  const call = client.makeBidiStreamRequest(ADS, identity, identity);
  const responses: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  const ended = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('data', (bytes: Buffer) => {
    responses.push(DiscoveryResponse.toObject(DiscoveryResponse.decode(bytes)));
    for (const wake of waiters.splice(0)) wake();
  });
  call.on('error', () => undefined);
  return {
    send: (request: Record<string, unknown>) => call.write(Buffer.from(DiscoveryRequest.encode(DiscoveryRequest.fromObject(request)).finish())),
    next: async () => {
      while (responses.length === 0) await new Promise<void>((resolve) => waiters.push(resolve));
      return responses.shift() as { nonce: string; version_info: string; control_plane?: { identifier: string } };
    },
    ended,
  };
}

describe('XdsServer', () => {
  it('serves ADS with its control plane id, lists the proxy, and reports it over CSDS', async () => {
    const cache = new SnapshotCache();
    cache.setResources('n1', TypeUrl.Cluster, [encoder.encode(TypeUrl.Cluster, 'c1', { name: 'c1' })]);
    const { server, client } = await start(cache);
    const stream = openAds(client);
    stream.send({ node: { id: 'n1', cluster: 'c' }, type_url: TypeUrl.Cluster });
    const response = await stream.next();
    expect(response.control_plane?.identifier).toBe('unit-cp');
    stream.send({ type_url: TypeUrl.Cluster, response_nonce: response.nonce, version_info: response.version_info });
    for (let i = 0; i < 50 && server.proxies()[0]?.types[0]?.resources[0]?.status !== 'ACKED'; i++) await new Promise((r) => setTimeout(r, 10));
    const [proxy] = server.proxies();
    expect(proxy).toMatchObject({ nodeId: 'n1', service: 'ads' });
    expect(proxy.types[0]).toMatchObject({ typeUrl: TypeUrl.Cluster, subscribed: '*', ackedVersion: response.version_info });

    const csdsBytes = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(CSDS_FETCH, identity, identity, Buffer.from(ClientStatusRequest.encode(ClientStatusRequest.fromObject({ node_matchers: [{ node_id: { exact: 'n1' } }] })).finish()), (error, value) =>
        error || !value ? reject(error ?? new Error('empty')) : resolve(value),
      ),
    );
    const csds = ClientStatusResponse.toObject(ClientStatusResponse.decode(csdsBytes), { enums: String }) as {
      config: { node: { id: string }; generic_xds_configs: { name: string; client_status: string; config_status: string }[] }[];
    };
    expect(csds.config).toHaveLength(1);
    expect(csds.config[0].node.id).toBe('n1');
    expect(csds.config[0].generic_xds_configs.map((c) => [c.name, c.client_status, c.config_status])).toEqual([['c1', 'ACKED', 'SYNCED']]);
  });

  it('close() ends open streams with UNAVAILABLE so clients reconnect elsewhere, and resolves', async () => {
    const cache = new SnapshotCache();
    cache.setResources('n1', TypeUrl.Cluster, []);
    const { server, client } = await start(cache);
    const stream = openAds(client);
    stream.send({ node: { id: 'n1' }, type_url: TypeUrl.Cluster });
    await stream.next();
    const csds = client.makeBidiStreamRequest('/envoy.service.status.v3.ClientStatusDiscoveryService/StreamClientStatus', identity, identity);
    const csdsEnded = new Promise<grpc.StatusObject>((resolve) => csds.on('status', resolve));
    csds.on('error', () => undefined);
    const firstStatus = new Promise<Buffer>((resolve) => csds.once('data', resolve));
    csds.write(Buffer.alloc(0));
    expect(ClientStatusResponse.decode(await firstStatus)).toBeDefined();
    await server.close(10_000);
    const status = await stream.ended;
    expect(status.code).toBe(grpc.status.UNAVAILABLE);
    expect((await csdsEnded).code).toBe(grpc.status.UNAVAILABLE);
    expect(server.proxies()).toEqual([]);
  });

  it('drain() keeps open streams served and refuses new ones; close() then ends them spread over the window', async () => {
    const cache = new SnapshotCache();
    for (const node of ['n1', 'n2', 'n3']) cache.setResources(node, TypeUrl.Cluster, [encoder.encode(TypeUrl.Cluster, 'c1', { name: 'c1' })]);
    const { server, client } = await start(cache);
    const streams = ['n1', 'n2', 'n3'].map((id) => {
      const stream = openAds(client);
      stream.send({ node: { id }, type_url: TypeUrl.Cluster });
      return stream;
    });
    for (const stream of streams) await stream.next();
    server.drain();
    expect(server.draining).toBe(true);
    // An open stream is still answered: a new version reaches it.
    cache.setResources('n1', TypeUrl.Cluster, [encoder.encode(TypeUrl.Cluster, 'c2', { name: 'c2' })]);
    expect((await streams[0]!.next()).version_info).toBeTruthy();
    // A new connection is refused (the listener is closed), with UNAVAILABLE.
    const port = Number(client.getChannel().getTarget().split(':').pop());
    const latecomer = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const late = openAds(latecomer);
    late.send({ node: { id: 'n4' }, type_url: TypeUrl.Cluster });
    expect((await late.ended).code).toBe(grpc.status.UNAVAILABLE);
    latecomer.close();
    // Ends at random moments within the window: the given random() puts them at 0 %, 50 % and 99 %.
    const fractions = [0, 0.5, 0.99];
    const startedAt = Date.now();
    const endedAt = streams.map((stream) => stream.ended.then((status) => ({ code: status.code, ms: Date.now() - startedAt })));
    await server.close(5_000, { closeWindowMs: 1_000, random: () => fractions.shift() ?? 0 });
    const ends = await Promise.all(endedAt);
    expect(ends.map((e) => e.code)).toEqual([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
    const times = ends.map((e) => e.ms).sort((a, b) => a - b);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(700);
  });

  it('without a status-reader check, CSDS answers nobody (UNAUTHENTICATED)', async () => {
    const { client } = await start(new SnapshotCache(), 'unconfigured');
    const error = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(CSDS_FETCH, identity, identity, Buffer.alloc(0), (e) => resolve(e)),
    );
    expect(error?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(error?.details).toContain('no status-reader check');
  });
});
