/**
 * Starts a real XdsServer on 127.0.0.1:0 backed by a SnapshotCache, with a silent logger and a
 * fresh metrics registry, plus the codec, encoder and resource factories tests need.
 */
import type protobuf from 'protobufjs';
import type { Registry } from 'prom-client';
import { silentLogger, type Logger } from '../../src/observability/logger.js';
import { createMetricsRegistry } from '../../src/observability/metrics.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import type { ConfigSource, EncodedResource, StreamContext } from '../../src/xds/contract.js';
import { ResourceEncoder, SnapshotCache, XdsServer, type XdsServerOptions } from '../../src/xds/index.js';
import { XdsCodec, XdsTestClient, type XdsTestClientOptions } from './ads-client.js';
import { ResourceFactory } from './resources.js';

/** The token the harness's status-reader check accepts for CSDS; its clients send it on CSDS calls. */
export const HARNESS_OPERATOR_TOKEN = 'harness-operator-token';
const OPERATOR_METADATA = { authorization: `Bearer ${HARNESS_OPERATOR_TOKEN}` };

export interface HarnessOptions {
  /** Reuse an already loaded Root (loading takes ~200 ms). */
  root?: protobuf.Root;
  authorize?: (ctx: StreamContext, typeUrl: string, name: string) => string | undefined;
  limits?: XdsServerOptions['limits'];
  controlPlaneId?: string;
  /** Listen on this port of 127.0.0.1 (a restart on a port just freed); 0, the default, picks one. */
  listenPort?: number;
  /** Wraps the cache, e.g. to refuse streams; defaults to the cache itself. */
  source?: (cache: SnapshotCache) => ConfigSource;
  /** Also listen on [::1] at the same port (tests that need a second peer address). */
  listenIpv6?: boolean;
  /** Log here instead of nowhere. */
  logger?: Logger;
}

export interface XdsHarness {
  readonly root: protobuf.Root;
  readonly codec: XdsCodec;
  readonly encoder: ResourceEncoder;
  readonly make: ResourceFactory;
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  readonly metrics: Registry;
  readonly address: string;
  /** Shorthand for `cache.setResources`. */
  set(nodeId: string, typeUrl: string, resources: readonly EncodedResource[]): void;
  /** A new client on its own channel; closed by `close()`. */
  client(options?: XdsTestClientOptions): XdsTestClient;
  /** A new client connecting over [::1] (needs `listenIpv6`): another peer address than `client()`. */
  clientIpv6(options?: XdsTestClientOptions): XdsTestClient;
  /** The value of a counter (summed over labels, or for the labels given). */
  counter(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export async function startXdsHarness(options: HarnessOptions = {}): Promise<XdsHarness> {
  const root = options.root ?? loadEnvoyProtos();
  const codec = new XdsCodec(root);
  const encoder = new ResourceEncoder(root);
  const cache = new SnapshotCache(options.authorize ? { authorize: options.authorize } : {});
  const metrics = createMetricsRegistry({ defaultMetrics: false });
  const server = new XdsServer({
    source: options.source ? options.source(cache) : cache,
    root,
    logger: options.logger ?? silentLogger(),
    metrics,
    ...(options.limits ? { limits: options.limits } : {}),
    ...(options.controlPlaneId ? { controlPlaneId: options.controlPlaneId } : {}),
    authorizeStatusReader: ({ metadata }) =>
      metadata.get('authorization')[0] === OPERATOR_METADATA.authorization ? undefined : { code: 'PERMISSION_DENIED', reason: 'not the harness operator' },
  });
  const port = await server.listen(`127.0.0.1:${options.listenPort ?? 0}`);
  if (options.listenIpv6) await server.listen(`[::1]:${port}`);
  const address = `127.0.0.1:${port}`;
  const clients: XdsTestClient[] = [];
  return {
    root,
    codec,
    encoder,
    make: new ResourceFactory(encoder),
    cache,
    server,
    metrics,
    address,
    set: (nodeId, typeUrl, resources) => cache.setResources(nodeId, typeUrl, resources),
    client: (clientOptions) => {
      const c = new XdsTestClient(address, codec, { statusMetadata: OPERATOR_METADATA, ...clientOptions });
      clients.push(c);
      return c;
    },
    clientIpv6: (clientOptions) => {
      const c = new XdsTestClient(`[::1]:${port}`, codec, { statusMetadata: OPERATOR_METADATA, ...clientOptions });
      clients.push(c);
      return c;
    },
    counter: (name, labels) => counterValue(metrics, name, labels),
    close: async () => {
      for (const c of clients) c.close();
      await server.close(0);
    },
  };
}

export async function counterValue(metrics: Registry, name: string, labels?: Record<string, string>): Promise<number> {
  const metric = metrics.getSingleMetric(name);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const { values } = await metric.get();
  return values
    .filter((v) => !labels || Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want))
    .reduce((sum, v) => sum + v.value, 0);
}
