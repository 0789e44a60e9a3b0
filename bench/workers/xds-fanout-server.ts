/**
 * The server side of the xds-fanout benchmark, in its own process so its RSS is its own: either
 * Accord's XdsServer with a SnapshotCache ("accord") or a bare grpc-js server that writes one
 * prebuilt response to every stream ("bare", the limit). It times, per stream, the arrival of the
 * ACK of each new version, measured from just before the change is handed to the server.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetricsRegistry } from '../../src/observability/metrics.js';
import { TypeUrl, type ConfigSource, type EncodedResource, type ProxyView, type StreamContext } from '../../src/xds/contract.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { ResourceEncoder, SnapshotCache, XdsServer } from '../../src/xds/index.js';
import type { XdsMode } from './xds-fanout-client.js';

export type ServerKind = 'accord' | 'bare';

export interface FanoutServerConfig {
  kind: ServerKind;
  mode: XdsMode;
  n: number;
  /** Measured rounds, after one warm-up round. */
  rounds: number;
  resourceName: string;
  endpointsPerResource: number;
  nodePrefix: string;
  allAckedTimeoutMs: number;
  /**
   * Bare SotW only: responses written to every stream per change, back to back, each with its own
   * version; a change is timed until the last one is ACKed. The fleet bench's TrafficPolicy change
   * sends each proxy three (CDS, EDS, RDS): this is their transport limit. Default 1.
   */
  responsesPerChange?: number;
}

export type ServerParentMessage = { cmd: 'start'; config: FanoutServerConfig } | { cmd: 'measure' } | { cmd: 'stop' };
export type ServerChildMessage =
  | { event: 'listening'; address: string; rssMb: number }
  | { event: 'measured'; rounds: number[][]; rssMb: number; baselineRssMb: number }
  | { event: 'error'; message: string };

const ADS_SERVICE = '/envoy.service.discovery.v3.AggregatedDiscoveryService';

function rssMb(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}

function claMessage(name: string, endpoints: number, round: number): Record<string, unknown> {
  return {
    cluster_name: name,
    endpoints: [
      {
        locality: { region: 'r1', zone: 'z1' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: Array.from({ length: endpoints }, (_, i) => ({
          health_status: 'HEALTHY',
          endpoint: { address: { socket_address: { address: `10.${round % 250}.${Math.floor(i / 250)}.${(i % 250) + 1}`, port_value: 8080 } } },
        })),
      },
    ],
  };
}

/** Per-stream ACK arrival times of one target version. */
class AckClock {
  private target = '';
  private t0 = 0;
  private latencies: number[] = [];
  private expected = 0;
  private done: (() => void) | undefined;

  arm(version: string, expected: number): Promise<void> {
    this.target = version;
    this.latencies = [];
    this.expected = expected;
    const all = new Promise<void>((resolve) => (this.done = resolve));
    this.t0 = performance.now();
    return all;
  }

  record(version: string): void {
    if (this.target === '' || version !== this.target) return;
    this.latencies.push(performance.now() - this.t0);
    if (this.latencies.length === this.expected) this.done?.();
  }

  get results(): number[] {
    return this.latencies;
  }
}

interface FanoutTarget {
  address: string;
  /** Encodes a round's resource; `apply` hands it to the server for every proxy. */
  prepare(round: number): { version: string; apply: () => void };
  close(): Promise<void>;
}

/** Wraps a ConfigSource so each stream's ACK of the shared resource is timed. */
function timedSource(inner: SnapshotCache, clock: AckClock, resourceName: string): ConfigSource {
  return {
    open: (ctx: StreamContext): ProxyView => {
      const view = inner.open(ctx);
      return {
        resources: (typeUrl) => view.resources(typeUrl),
        authorize: (typeUrl, name) => view.authorize(typeUrl, name),
        interest: (typeUrl, names) => view.interest(typeUrl, names),
        acked: (typeUrl, resources) => {
          for (const [name, version] of resources) if (name === resourceName) clock.record(version);
          view.acked(typeUrl, resources);
        },
        nacked: (typeUrl, detail) => view.nacked(typeUrl, detail),
        watch: (onChange) => view.watch(onChange),
        close: () => view.close(),
      };
    },
  };
}

async function accordTarget(root: protobuf.Root, clock: AckClock, config: FanoutServerConfig): Promise<FanoutTarget> {
  const encoder = new ResourceEncoder(root);
  const cache = new SnapshotCache();
  const server = new XdsServer({
    source: timedSource(cache, clock, config.resourceName),
    root,
    logger: silentLogger(),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    // Every simulated proxy connects from 127.0.0.1, at once.
    limits: { maxStreams: config.n + 100, maxStreamsPerPeer: config.n + 100, maxPendingStreams: config.n + 100, maxPendingStreamsPerPeer: config.n + 100 },
  });
  const encode = (round: number): EncodedResource =>
    encoder.encode(TypeUrl.ClusterLoadAssignment, config.resourceName, claMessage(config.resourceName, config.endpointsPerResource, round));
  // Every proxy is its own node, as in a mesh; they share the one encoded resource.
  const setAll = (resource: EncodedResource): void => {
    const list = [resource];
    for (let i = 0; i < config.n; i++) cache.setResources(`${config.nodePrefix}${i}`, TypeUrl.ClusterLoadAssignment, list);
  };
  setAll(encode(0));
  const port = await server.listen('127.0.0.1:0');
  return {
    address: `127.0.0.1:${port}`,
    prepare: (round) => {
      const resource = encode(round);
      return { version: resource.version, apply: () => setAll(resource) };
    },
    close: () => server.close(0),
  };
}

async function bareTarget(root: protobuf.Root, clock: AckClock, config: FanoutServerConfig): Promise<FanoutTarget> {
  const delta = config.mode === 'delta';
  const Request = root.lookupType(`envoy.service.discovery.v3.${delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}`);
  const Response = root.lookupType(`envoy.service.discovery.v3.${delta ? 'DeltaDiscoveryResponse' : 'DiscoveryResponse'}`);
  const AnyType = root.lookupType('google.protobuf.Any');
  const encoder = new ResourceEncoder(root);
  const streams: grpc.ServerDuplexStream<Buffer, Buffer>[] = [];
  // Delta ACKs carry only the nonce; the nonce of round r is String(r).
  const versionByNonce = new Map<string, string>();
  const build = (round: number): { bytes: Buffer; version: string } => {
    const resource = encoder.encode(TypeUrl.ClusterLoadAssignment, config.resourceName, claMessage(config.resourceName, config.endpointsPerResource, round));
    const any = AnyType.decode(resource.any);
    const nonce = String(round);
    const message = delta
      ? { system_version_info: resource.version, resources: [{ name: resource.name, version: resource.version, resource: any }], type_url: TypeUrl.ClusterLoadAssignment, nonce }
      : { version_info: resource.version, resources: [any], type_url: TypeUrl.ClusterLoadAssignment, nonce };
    versionByNonce.set(nonce, resource.version);
    return { bytes: Buffer.from(Response.encode(Response.fromObject(message)).finish()), version: resource.version };
  };
  const burst = config.responsesPerChange ?? 1;
  if (!Number.isInteger(burst) || burst < 1 || (burst > 1 && delta)) throw new Error(`responsesPerChange: expected a positive integer (SotW only), got ${burst}`);
  let current = build(0);
  const identity = (b: Buffer): Buffer => b;
  const method = delta ? 'DeltaAggregatedResources' : 'StreamAggregatedResources';
  const server = new grpc.Server();
  server.addService(
    {
      [method]: {
        path: `${ADS_SERVICE}/${method}`,
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      [method]: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let first = true;
        call.on('data', (bytes: Buffer) => {
          // Decoded like any server must, to tell ACKs from subscriptions.
          const req = Request.toObject(Request.decode(bytes), { defaults: true }) as { version_info?: string; response_nonce: string };
          if (first) {
            first = false;
            streams.push(call);
            call.write(current.bytes);
          } else if (req.response_nonce !== '') {
            clock.record((delta ? versionByNonce.get(req.response_nonce) : req.version_info) ?? '');
          }
        });
        call.on('error', () => undefined);
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    address: `127.0.0.1:${port}`,
    prepare: (round) => {
      // Distinct contents, versions and nonces for each response of the change.
      const messages = Array.from({ length: burst }, (_, k) => build(round * burst + k));
      const last = messages[messages.length - 1]!;
      return {
        version: last.version,
        apply: () => {
          current = last;
          for (const call of streams) for (const message of messages) call.write(message.bytes);
        },
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

async function measure(target: FanoutTarget, clock: AckClock, config: FanoutServerConfig): Promise<number[][]> {
  const rounds: number[][] = [];
  for (let round = 0; round <= config.rounds; round++) {
    const { version, apply } = target.prepare(round + 1);
    const allAcked = clock.arm(version, config.n);
    apply();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`round ${round}: only ${clock.results.length}/${config.n} ACKed within ${config.allAckedTimeoutMs} ms`)),
        config.allAckedTimeoutMs,
      );
    });
    await Promise.race([allAcked, timeout]).finally(() => clearTimeout(timer));
    // Round 0 warms up the JIT and is not reported.
    if (round > 0) rounds.push([...clock.results]);
  }
  return rounds;
}

function main(): void {
  const send = (message: ServerChildMessage): void => {
    process.send?.(message);
  };
  const fail = (err: unknown): void => send({ event: 'error', message: err instanceof Error ? err.message : String(err) });
  const clock = new AckClock();
  let state: { target: FanoutTarget; config: FanoutServerConfig; baseline: number } | undefined;

  process.on('message', (message: ServerParentMessage) => {
    if (message.cmd === 'start' && !state) {
      const config = message.config;
      const root = loadEnvoyProtos();
      const baseline = rssMb();
      if (config.kind === 'accord' && (config.responsesPerChange ?? 1) !== 1) {
        fail(new Error('responsesPerChange: only the bare server sends several responses per change'));
        return;
      }
      const make = config.kind === 'accord' ? accordTarget : bareTarget;
      make(root, clock, config).then((target) => {
        state = { target, config, baseline };
        send({ event: 'listening', address: target.address, rssMb: rssMb() });
      }, fail);
    } else if (message.cmd === 'measure' && state) {
      const { target, config, baseline } = state;
      const connectedRss = rssMb();
      measure(target, clock, config).then((rounds) => send({ event: 'measured', rounds, rssMb: connectedRss, baselineRssMb: baseline }), fail);
    } else if (message.cmd === 'stop') {
      const closing = state ? state.target.close() : Promise.resolve();
      void closing.finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main();
