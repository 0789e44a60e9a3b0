/**
 * xds-fanout: how long until N proxies watching one EDS resource have ACKed an endpoint change,
 * against the limit: a bare grpc-js server writing the same response bytes to N streams.
 *
 *   npm run bench -- xds-fanout [--quick] [--n=1000,5000] [--connections=8] [--rounds=3]
 *
 * The proxies run in a separate process (workers/xds-fanout-client.js) over real gRPC. Times are
 * measured in this (the server) process: from just before the change is handed to the server
 * until each stream's ACK of the new version arrives.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { silentLogger } from '../src/observability/logger.js';
import { createMetricsRegistry } from '../src/observability/metrics.js';
import { TypeUrl, type ConfigSource, type EncodedResource, type ProxyView, type StreamContext } from '../src/xds/contract.js';
import { loadEnvoyProtos } from '../src/xds/protos.js';
import { ResourceEncoder, SnapshotCache, XdsServer } from '../src/xds/index.js';
import type { ChildMessage, FanoutClientConfig, ParentMessage } from './workers/xds-fanout-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(here, 'workers', 'xds-fanout-client.js');
const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const CLUSTER = 'shared';
const ENDPOINTS_PER_CLA = 20;
const ALL_ACKED_TIMEOUT_MS = 120_000;

interface Options {
  sizes: number[];
  connections: number;
  rounds: number;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const quick = argv.includes('--quick');
  const sizes = value('n')?.split(',').map(Number) ?? (quick ? [1000] : [1000, 5000, 10000]);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--n: expected positive integers, got ${value('n')}`);
  const connections = Number(value('connections') ?? 8);
  const rounds = Number(value('rounds') ?? 3);
  return { sizes, connections, rounds };
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface RoundResult {
  p50: number;
  p99: number;
  max: number;
}

function summarize(latencies: number[]): RoundResult {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
}

/** The median round by its max (all rounds stay in the human output). */
function medianRound(rounds: RoundResult[]): RoundResult {
  const sorted = [...rounds].sort((a, b) => a.max - b.max);
  return sorted[Math.floor(sorted.length / 2)];
}

function claMessage(round: number): Record<string, unknown> {
  return {
    cluster_name: CLUSTER,
    endpoints: [
      {
        locality: { region: 'r1', zone: 'z1' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: Array.from({ length: ENDPOINTS_PER_CLA }, (_, i) => ({
          health_status: 'HEALTHY',
          endpoint: { address: { socket_address: { address: `10.${round % 250}.0.${i + 1}`, port_value: 8080 } } },
        })),
      },
    ],
  };
}

/** Collects, per stream, when its ACK of a target version arrives. */
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
    if (version !== this.target || this.target === '') return;
    this.latencies.push(performance.now() - this.t0);
    if (this.latencies.length === this.expected) this.done?.();
  }

  result(): number[] {
    return this.latencies;
  }

  get count(): number {
    return this.latencies.length;
  }
}

/** Wraps a ConfigSource so every stream's ACK of the shared resource is timed. */
function timedSource(inner: SnapshotCache, clock: AckClock): ConfigSource {
  return {
    open: (ctx: StreamContext): ProxyView => {
      const view = inner.open(ctx);
      return {
        resources: (typeUrl) => view.resources(typeUrl),
        authorize: (typeUrl, name) => view.authorize(typeUrl, name),
        interest: (typeUrl, names) => view.interest(typeUrl, names),
        acked: (typeUrl, resources) => {
          const version = resources.get(CLUSTER);
          if (version !== undefined) clock.record(version);
          view.acked(typeUrl, resources);
        },
        nacked: (typeUrl, detail) => view.nacked(typeUrl, detail),
        watch: (onChange) => view.watch(onChange),
        close: () => view.close(),
      };
    },
  };
}

class ClientProcess {
  private readonly waiters: { match: (m: ChildMessage) => boolean; resolve: (m: ChildMessage) => void }[] = [];
  private failure: string | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (message: ChildMessage) => {
      if (message.event === 'error') {
        this.failure ??= message.message;
        return;
      }
      const i = this.waiters.findIndex((w) => w.match(message));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(message);
    });
  }

  static start(config: FanoutClientConfig): ClientProcess {
    const child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=4096'] });
    const proc = new ClientProcess(child);
    child.send({ cmd: 'start', config } satisfies ParentMessage);
    return proc;
  }

  waitFor(match: (m: ChildMessage) => boolean, timeoutMs: number, what: string): Promise<ChildMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: timed out after ${timeoutMs} ms${this.failure ? ` (client: ${this.failure})` : ''}`)), timeoutMs);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
    });
  }

  get error(): string | undefined {
    return this.failure;
  }

  async stop(): Promise<void> {
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ cmd: 'stop' } satisfies ParentMessage);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

function rssMb(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}

interface FanoutTarget {
  /** Encodes round `round`'s resource; `apply` hands it to the server for every proxy. */
  prepare(round: number): { version: string; apply: () => void };
  address: string;
  close(): Promise<void>;
}

interface RunResult {
  rounds: RoundResult[];
  median: RoundResult;
  rssMb: number;
  rssKbPerStream: number;
}

async function measure(target: FanoutTarget, clock: AckClock, n: number, options: Options, baselineRssMb: number): Promise<RunResult> {
  const client = ClientProcess.start({
    address: target.address,
    n,
    connections: options.connections,
    typeUrl: TypeUrl.ClusterLoadAssignment,
    resourceName: CLUSTER,
    nodePrefix: 'proxy-',
    batch: 500,
  });
  try {
    await client.waitFor((m) => m.event === 'ready', ALL_ACKED_TIMEOUT_MS, `${n} streams subscribing`);
    const connectedRss = rssMb();
    const rounds: RoundResult[] = [];
    // Round 0 warms up the JIT and is not reported.
    for (let round = 0; round <= options.rounds; round++) {
      const { version, apply } = target.prepare(round + 1);
      const allAcked = clock.arm(version, n);
      apply();
      await withTimeout(allAcked, ALL_ACKED_TIMEOUT_MS, () => `round ${round}: ${clock.count}/${n} ACKed${client.error ? ` (client: ${client.error})` : ''}`);
      if (round > 0) rounds.push(summarize(clock.result()));
    }
    return {
      rounds,
      median: medianRound(rounds),
      rssMb: connectedRss,
      rssKbPerStream: ((connectedRss - baselineRssMb) * 1024) / n,
    };
  } finally {
    await client.stop();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(what())), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

async function accordTarget(root: protobuf.Root, clock: AckClock, n: number): Promise<FanoutTarget> {
  const encoder = new ResourceEncoder(root);
  const cache = new SnapshotCache();
  const server = new XdsServer({
    source: timedSource(cache, clock),
    root,
    logger: silentLogger(),
    metrics: createMetricsRegistry({ defaultMetrics: false }),
    limits: { maxStreams: n + 100 },
  });
  const setAll = (resource: EncodedResource): void => {
    const list = [resource];
    for (let i = 0; i < n; i++) cache.setResources(`proxy-${i}`, TypeUrl.ClusterLoadAssignment, list);
  };
  setAll(encoder.encode(TypeUrl.ClusterLoadAssignment, CLUSTER, claMessage(0)));
  const port = await server.listen('127.0.0.1:0');
  return {
    address: `127.0.0.1:${port}`,
    prepare: (round) => {
      const resource = encoder.encode(TypeUrl.ClusterLoadAssignment, CLUSTER, claMessage(round));
      // ACKs reach the source as per-resource versions.
      return { version: resource.version, apply: () => setAll(resource) };
    },
    close: () => server.close(0),
  };
}

/** The limit: a bare grpc-js server that writes one prebuilt response to every stream. */
async function bareTarget(root: protobuf.Root, clock: AckClock): Promise<FanoutTarget> {
  const Request = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const Response = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const encoder = new ResourceEncoder(root);
  const streams: grpc.ServerDuplexStream<Buffer, Buffer>[] = [];
  const build = (round: number): { bytes: Buffer; version: string } => {
    const resource = encoder.encode(TypeUrl.ClusterLoadAssignment, CLUSTER, claMessage(round));
    const any = root.lookupType('google.protobuf.Any').decode(resource.any);
    const bytes = Buffer.from(
      Response.encode(Response.fromObject({ version_info: resource.version, resources: [any], type_url: TypeUrl.ClusterLoadAssignment, nonce: String(round) })).finish(),
    );
    return { bytes, version: resource.version };
  };
  let current = build(0);
  const server = new grpc.Server();
  const identity = (b: Buffer): Buffer => b;
  server.addService(
    {
      StreamAggregatedResources: {
        path: ADS_PATH,
        requestStream: true,
        responseStream: true,
        requestSerialize: identity,
        requestDeserialize: identity,
        responseSerialize: identity,
        responseDeserialize: identity,
      },
    },
    {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
        let first = true;
        call.on('data', (bytes: Buffer) => {
          const req = Request.toObject(Request.decode(bytes), { defaults: true }) as { version_info: string; response_nonce: string };
          if (first) {
            first = false;
            streams.push(call);
            call.write(current.bytes);
          } else if (req.response_nonce !== '') {
            clock.record(req.version_info);
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
      const next = build(round);
      return {
        version: next.version,
        apply: () => {
          current = next;
          for (const call of streams) call.write(current.bytes);
        },
      };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const call of streams) call.end();
        server.tryShutdown(() => resolve());
      }),
  };
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

export async function run(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const root = loadEnvoyProtos();
  const rows: Record<string, number>[] = [];
  console.log(`xds-fanout: ${options.rounds} measured rounds per size (after one warm-up), ${options.connections} HTTP/2 connections, one EDS resource with ${ENDPOINTS_PER_CLA} endpoints`);
  console.log('');
  console.log('     n | accord p50 | accord p99 | accord max | limit p50 | limit max | ratio | rss MB | KB/stream | limit KB/stream');
  console.log('-------+------------+------------+------------+-----------+-----------+-------+--------+-----------+----------------');
  for (const n of options.sizes) {
    const clock = new AckClock();
    const baseline = rssMb();
    const accord = await accordTarget(root, clock, n);
    const a = await measure(accord, clock, n, options, baseline).finally(() => accord.close());
    await settle();
    const bareClock = new AckClock();
    const bareBaseline = rssMb();
    const bare = await bareTarget(root, bareClock);
    const b = await measure(bare, bareClock, n, options, bareBaseline).finally(() => bare.close());
    await settle();
    const ratio = a.median.max / b.median.max;
    console.log(
      `${String(n).padStart(6)} | ${fmt(a.median.p50).padStart(10)} | ${fmt(a.median.p99).padStart(10)} | ${fmt(a.median.max).padStart(10)} | ${fmt(b.median.p50).padStart(9)} | ${fmt(b.median.max).padStart(9)} | ${ratio.toFixed(2).padStart(5)} | ${fmt(a.rssMb).padStart(6)} | ${fmt(a.rssKbPerStream).padStart(9)} | ${fmt(b.rssKbPerStream).padStart(15)}`,
    );
    rows.push({
      n,
      p50_ms: round2(a.median.p50),
      p99_ms: round2(a.median.p99),
      max_ms: round2(a.median.max),
      rss_mb: round2(a.rssMb),
      rss_kb_per_stream: round2(a.rssKbPerStream),
      limit_ms: round2(b.median.max),
      limit_p50_ms: round2(b.median.p50),
      ratio: round2(ratio),
    });
  }
  console.log('');
  console.log('times in ms from handing the change to the server until each stream\'s ACK arrived; ratio = accord max / limit max');
  const last = rows[rows.length - 1];
  console.log(JSON.stringify({ bench: 'xds-fanout', ...last, ...(rows.length > 1 ? { runs: rows } : {}) }));
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

/** Lets closed sockets and timers wind down between measurements. */
function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 500));
}
