/**
 * Registration benchmark through the real product: two `accord serve --redis` processes (A, B).
 *   1. throughput: N `POST /v1/workloads` on A's HTTP API with C in flight, from a load generator in
 *      its own process → registrations/s.
 *      limit: a bare HTTP server in this process doing one Redis SET per request, driven by the same
 *      load generator at the same concurrency (what Node's HTTP plus one Redis round trip allow); ratio = accord ÷ limit.
 *   2. propagation: sequential registrations on A of a service that a proxy connected to B calls;
 *      time from A's 201 until B's xDS stream delivers the endpoint (p50/p99).
 * Flags: --quick, --n N, --concurrency C, --samples S.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { loadEnvoyProtos } from '../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../src/xds/contract.js';
import { AccordProcess, OPERATOR_TOKEN } from './support/accord-process.js';
import { MinimalAdsClient } from './support/minimal-ads-client.js';

const REDIS = process.env.ACCORD_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const execFileAsync = promisify(execFile);

function arg(argv: readonly string[], flag: string, fallback: number): number {
  const index = argv.indexOf(flag);
  if (index === -1) return fallback;
  const value = Number(argv[index + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${flag}: expected a positive number`);
  return value;
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** Runs the load generator in its own process against `url`; returns registrations/s and failures. */
async function load(url: string, n: number, concurrency: number): Promise<{ perSecond: number; failures: number }> {
  const worker = fileURLToPath(new URL('./workers/http-load.js', import.meta.url));
  const { stdout } = await execFileAsync(process.execPath, [worker, url, String(n), String(concurrency), OPERATOR_TOKEN], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { perSecond: number; failures: number };
}

/** Keep-alive connections, one per request in flight: the client must not be what is measured. */
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

interface Reply {
  readonly status: number;
  json<T>(): T;
}

function register(base: string, body: unknown): Promise<Reply> {
  const url = new URL('/v1/workloads', base);
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { agent, host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, json: <T>() => JSON.parse(text) as T });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** One Redis SET per request: the floor any registration endpoint pays. */
async function bareLimit(n: number, concurrency: number, prefix: string): Promise<number> {
  const redis = new Redis(REDIS, { enableAutoPipelining: true });
  let counter = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      redis.set(`${prefix}:bare:${counter++}`, body).then(
        () => {
          res.writeHead(201, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
        },
        () => {
          res.writeHead(503);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const result = await load(`http://127.0.0.1:${port}/v1/workloads`, n, concurrency);
  server.close();
  await redis.quit();
  return result.perSecond;
}

export async function run(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const n = arg(argv, '--n', quick ? 1_000 : 5_000);
  const concurrency = arg(argv, '--concurrency', 64);
  const samples = arg(argv, '--samples', quick ? 100 : 300);
  const prefix = `accord-bench-${randomBytes(4).toString('hex')}`;
  const a = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix], { ACCORD_LOG_LEVEL: 'warn' });
  const b = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix], { ACCORD_LOG_LEVEL: 'warn' });
  try {
    // 1. throughput
    const throughput = await load(`${a.http}/v1/workloads`, n, concurrency);
    const limit = await bareLimit(n, concurrency, prefix);

    // 2. propagation into B's xDS output
    const callerResponse = await register(a.http, { service: 'caller', address: '127.0.0.1', port: 7000, upstreams: [{ service: 'target', localPort: 9001 }] });
    const caller = callerResponse.json<{ id: string; token: string }>();
    const client = new MinimalAdsClient(b.xds, loadEnvoyProtos(), caller.token);
    const latencies: number[] = [];
    try {
      await client.subscribe({ id: caller.id, userAgentName: 'envoy' }, TypeUrl.Cluster, []);
      const clusters = await client.waitFor(TypeUrl.Cluster, () => true, 20_000);
      const edsNames = clusters.map((c) => String((c.eds_cluster_config as { service_name?: string } | undefined)?.service_name || c.name)).filter((name) => name.includes('target'));
      await client.subscribe(undefined, TypeUrl.ClusterLoadAssignment, edsNames);
      for (let i = 0; i < samples; i += 1) {
        const address = `10.200.${(i >> 8) & 255}.${i & 255}`;
        const response = await register(a.http, { service: 'target', address, port: 8443 });
        const acknowledgedAt = performance.now();
        if (response.status !== 201) throw new Error(`registration failed: HTTP ${response.status}`);
        await client.waitFor(TypeUrl.ClusterLoadAssignment, (cla) => JSON.stringify(cla).includes(`"${address}"`), 10_000);
        latencies.push(performance.now() - acknowledgedAt);
      }
    } finally {
      client.close();
    }
    latencies.sort((x, y) => x - y);
    const p50 = percentile(latencies, 50);
    const p99 = percentile(latencies, 99);
    console.log('registry-http: registrations through the HTTP API into Redis, and A → B xDS propagation');
    console.log(`  registrations      ${n} with ${concurrency} in flight, ${throughput.failures} failed`);
    console.log(`  accord             ${throughput.perSecond.toFixed(0)} registrations/s (target ≥ 2,000/s)`);
    console.log(`  limit (bare HTTP + 1 SET) ${limit.toFixed(0)} requests/s   ratio ${(throughput.perSecond / limit).toFixed(2)}`);
    console.log(`  propagation A→B xDS  p50 ${p50.toFixed(1)} ms   p99 ${p99.toFixed(1)} ms   (${samples} samples; target p99 ≤ 100 ms)`);
    console.log(
      JSON.stringify({
        bench: 'registry-http',
        n,
        regs_per_s: Math.round(throughput.perSecond),
        failures: throughput.failures,
        limit: Math.round(limit),
        ratio: Number((throughput.perSecond / limit).toFixed(3)),
        p50_ms: Number(p50.toFixed(2)),
        p99_ms: Number(p99.toFixed(2)),
      }),
    );
  } finally {
    await Promise.all([a.stop(), b.stop()]);
    const redis = new Redis(REDIS);
    const keys = [...(await redis.keys(`${prefix}*`)), ...(await redis.keys(`{${prefix}}*`))];
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    await redis.quit();
  }
}
