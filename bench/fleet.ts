/**
 * fleet: N Envoy-like proxies through the whole product (issue 13). The real `accord serve
 * --redis` in its own process (own key prefix, deleted afterwards); N workloads registered over
 * the HTTP API (min(N, 1,000) services; each proxy calls 10 of them plus `shared`, which every
 * proxy calls); the proxies in their own process (workers/fleet-proxies.js), each on its own ADS
 * stream with its workload token: CDS and LDS wildcard, then EDS, RDS and SDS for the names they
 * reference, ACKing every response.
 *
 * Phases: cold start (all configured, certificates included) · steady RSS · one endpoint of
 * `shared` added → EDS ACKed by all · one TrafficPolicy on `shared` → RDS ACKed by all · the same
 * kind of TrafficPolicy on one ordinary service → RDS ACKed by its callers (≈ 1 % of N) · kill -9
 * and restart on the same Redis → all configured again · churn (endpoints of random services
 * come and go at ≈ 85 changes/s, RSS and heap used sampled every 10 s; then RSS every 10 s for up
 * to a minute of quiet). CPU seconds of the
 * control plane per phase from /proc/<pid>/stat. The limits: xds-fanout's bare grpc-js server
 * fanning one EDS change out to the same N streams, and the same server writing three responses
 * per stream per change (as many as the TrafficPolicy change sends each proxy: CDS, EDS, RDS).
 *
 *   npm run bench -- fleet [--quick] [--n=1000,5000] [--churn-seconds=S] [--profile-dir=DIR]
 *                          [--server-node-args="--max-semi-space-size=64"]   (node flags for accord serve)
 *                          [--heap-snapshot-dir=DIR]   (a heap snapshot of the control plane at steady state)
 */
import { flagValue } from './support/args.js';
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { AccordProcess, OPERATOR_TOKEN } from './support/accord-process.js';
import type { FleetChildMessage, FleetParentMessage, FleetProxy } from './workers/fleet-proxies.js';
import { measure as measureFanout } from './xds-fanout.js';

const REDIS = process.env.ACCORD_BENCH_REDIS ?? 'redis://127.0.0.1:6379';
const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'workers', 'fleet-proxies.js');
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const UPSTREAMS_PER_PROXY = 10;
const CHURN_PER_SECOND = 85;
const SAMPLE_EVERY_MS = 10_000;
/** After the churn RSS is sampled this long (at most; no longer than the churn ran, at least 10 s). */
const QUIET_AFTER_CHURN_S = 60;
const STEP_TIMEOUT_MS = 600_000;
const CLK_TCK = 100;

interface Options {
  sizes: number[];
  churnSeconds: number;
  profileDir: string | undefined;
  serverNodeArgs: string[];
  heapSnapshotDir: string | undefined;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => flagValue(argv, name);
  const quick = argv.includes('--quick');
  const sizes = value('n')?.split(',').map(Number) ?? (quick ? [1000] : [1000, 5000, 10000]);
  if (sizes.some((n) => !Number.isInteger(n) || n < 11 || n > 100_000)) throw new Error(`--n: expected integers from 11 to 100000, got ${value('n')}`);
  const churnSeconds = Number(value('churn-seconds') ?? (quick ? 20 : 300));
  if (!Number.isFinite(churnSeconds) || churnSeconds < 0 || churnSeconds > 86_400) throw new Error('--churn-seconds: expected 0 to 86400');
  const serverNodeArgs = (value('server-node-args') ?? '').split(' ').filter(Boolean);
  const notAFlag = serverNodeArgs.find((arg) => !/^--[a-z0-9-]+(=[\w.,-]+)?$/.test(arg));
  if (notAFlag !== undefined) throw new Error(`--server-node-args: "${notAFlag}" is not a node flag (--name or --name=value)`);
  return { sizes, churnSeconds, profileDir: value('profile-dir'), serverNodeArgs, heapSnapshotDir: value('heap-snapshot-dir') };
}

const wallNow = (): number => performance.timeOrigin + performance.now();

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? NaN;
}

/** RSS (and its peak, VmHWM) in MB from /proc. */
function memory(pid: number): { rssMb: number; peakMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** User + system CPU seconds of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** Where the RSS sits: V8 heap used and reserved, and memory outside it (Buffers, native objects) that V8 is told of. */
interface HeapFigures {
  usedMb: number;
  totalMb: number;
  externalMb: number;
}

async function heapFigures(accord: AccordProcess): Promise<HeapFigures> {
  const response = await fetch(`${accord.http}/metrics`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
  const text = await response.text();
  const mb = (metric: string): number => {
    const match = new RegExp(`^accord_process_nodejs_${metric}\\s+(\\S+)`, 'm').exec(text);
    return match ? Number(match[1]) / (1024 * 1024) : NaN;
  };
  return { usedMb: mb('heap_size_used_bytes'), totalMb: mb('heap_size_total_bytes'), externalMb: mb('external_memory_bytes') };
}

async function heapUsedMb(accord: AccordProcess): Promise<number> {
  return (await heapFigures(accord)).usedMb;
}

/** Signals the control plane (started with --heapsnapshot-signal) and waits until its snapshot is written. */
async function heapSnapshot(pid: number, dir: string): Promise<void> {
  const snapshots = (): string[] => readdirSync(dir).filter((name) => name.endsWith('.heapsnapshot'));
  const before = new Set(snapshots());
  process.kill(pid, 'SIGUSR2');
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  let size = -1;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    const file = snapshots().find((name) => !before.has(name));
    if (!file) continue;
    const now = statSync(path.join(dir, file)).size;
    if (now > 0 && now === size) {
      console.error(`heap snapshot: ${path.join(dir, file)} (${(now / 1e6).toFixed(0)} MB)`);
      return;
    }
    size = now;
  }
  throw new Error('heap snapshot: not written in time');
}

/** Runs `task` over `items` with `limit` in flight. */
async function pool<T, R>(items: readonly T[], limit: number, task: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        results[i] = await task(items[i] as T);
      }
    }),
  );
  return results;
}

async function ok(accord: AccordProcess, method: string, urlPath: string, body?: unknown): Promise<unknown> {
  const response = await accord.request(method, urlPath, body);
  if (response.status >= 300) throw new Error(`${method} ${urlPath}: HTTP ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`);
  return response.body;
}

/** The proxy worker process, spoken to over IPC. */
class Proxies {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private readonly waiters: { event: string; resolve: (m: FleetChildMessage) => void }[] = [];
  private failure: string | undefined;

  constructor(profileDir: string | undefined) {
    // With --profile-dir the proxies' process is profiled too: it shares the two cores with the control plane.
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`, '--cpu-prof-name=proxies.cpuprofile'] : [];
    // The proxies' memory is not measured: a larger young generation keeps their garbage collection
    // (a fifth of their CPU) from taking cores the control plane is measured on.
    this.child = fork(WORKER, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--max-old-space-size=4096', '--max-semi-space-size=64', ...profile] });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.child.on('message', (message: FleetChildMessage) => {
      if (message.event === 'error') {
        this.failure ??= message.message;
        return;
      }
      const i = this.waiters.findIndex((w) => w.event === message.event);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(message);
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  send(message: FleetParentMessage): void {
    this.child.send(message);
  }

  waitFor<E extends FleetChildMessage['event']>(event: E, what: string): Promise<Extract<FleetChildMessage, { event: E }>> {
    return new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        if (this.failure) {
          clearInterval(poll);
          clearTimeout(timer);
          reject(new Error(`${what}: proxies failed: ${this.failure}`));
        }
      }, 100);
      const timer = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`${what}: timed out after ${STEP_TIMEOUT_MS} ms`));
      }, STEP_TIMEOUT_MS);
      this.waiters.push({
        event,
        resolve: (m) => {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(m as Extract<FleetChildMessage, { event: E }>);
        },
      });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) this.send({ cmd: 'stop' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

interface Latency {
  p50: number;
  p99: number;
  max: number;
}

function latencies(times: readonly number[], t0: number): Latency {
  const sorted = times.map((t) => t - t0).sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] ?? NaN };
}

interface FleetResult {
  n: number;
  services: number;
  cold_start_s: number;
  cold_start_cpu_s: number;
  steady_rss_mb: number;
  steady_heap_mb: number;
  steady_heap_total_mb: number;
  steady_external_mb: number;
  rss_kb_per_proxy: number;
  eds: Latency;
  eds_cpu_s: number;
  rds: Latency;
  rds_cpu_s: number;
  /** The same kind of TrafficPolicy on one ordinary service: only its callers are reached. */
  rds_one: Latency & { callers: number };
  rds_one_cpu_s: number;
  rss_after_changes_mb: number;
  restart_s: number;
  restart_ready_s: number;
  restart_cpu_s: number;
  restart_rss_peak_mb: number;
  churn: {
    seconds: number;
    changes: number;
    per_s: number;
    cpu_s: number;
    samples: { t_s: number; rss_mb: number; heap_mb: number }[];
    /** RSS 10 s after the churn stopped (or sooner for a shorter churn). */
    rss_after_mb: number;
    /** RSS every 10 s while quiet after the churn, up to a minute (V8's memory reducer works on idle time). */
    quiet: { t_s: number; rss_mb: number }[];
    failures: number;
    first_failure: string;
  };
  server_errors: string;
  limit: Latency;
  ratio_eds_max: number;
  /** The bare server writing three responses per stream per change, timed to the last ACK. */
  limit_three: Latency;
  ratio_rds_max: number;
}

async function runOne(n: number, options: Options): Promise<FleetResult> {
  const prefix = `accord-bench-fleet-${randomBytes(4).toString('hex')}`;
  const services = Math.min(1000, n);
  // Every simulated proxy connects from 127.0.0.1, where a real fleet has an address per proxy: the
  // per-address caps are lifted to what N distinct addresses would allow, the global caps stay.
  const env: NodeJS.ProcessEnv = {
    ACCORD_LOG_LEVEL: 'warn',
    ACCORD_XDS_MAX_STREAMS_PER_PEER: String(n + 1_000),
    ACCORD_XDS_MAX_PENDING_STREAMS_PER_PEER: String(n + 1_000),
  };
  const nodeArgs: string[] = [...options.serverNodeArgs];
  if (options.heapSnapshotDir) {
    mkdirSync(options.heapSnapshotDir, { recursive: true });
    nodeArgs.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${path.resolve(options.heapSnapshotDir)}`);
  }
  if (options.profileDir) {
    mkdirSync(options.profileDir, { recursive: true });
    // One profile per process: the one killed by kill -9 writes none; the restarted one covers restart and churn.
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${path.resolve(options.profileDir)}`);
  }
  const baseline = { rssMb: NaN };
  let accord: AccordProcess | undefined;
  let proxies: Proxies | undefined;
  try {
    accord = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix], env, nodeArgs);
    const server = accord;
    baseline.rssMb = memory(server.pid ?? 0).rssMb;
    const svc = (i: number): string => `svc-${i % services}`;
    // One endpoint of `shared`, not a proxy.
    await ok(server, 'POST', '/v1/workloads', { service: 'shared', address: '10.250.0.1', port: 8080 });
    // Upstream services of each registered proxy: who calls the one service the targeted policy change names.
    const upstreamServices: string[][] = [];
    const registered = await pool(
      Array.from({ length: n }, (_, i) => i),
      32,
      async (i): Promise<FleetProxy> => {
        const own = i % services;
        const upstreams = Array.from({ length: UPSTREAMS_PER_PROXY }, (_, k) => ({ service: svc(own + 1 + ((k * 97) % (services - 1))), localPort: 10_001 + k }));
        upstreams.push({ service: 'shared', localPort: 10_000 });
        upstreamServices[i] = dedupe(upstreams).map((u) => u.service);
        const body = (await ok(server, 'POST', '/v1/workloads', {
          service: svc(i),
          address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
          port: 8080,
          upstreams: dedupe(upstreams),
        })) as { id: string; token: string };
        return { id: body.id, token: body.token };
      },
    );

    const pid = (): number => server.pid ?? 0;
    // Cold start: every proxy connects at once.
    let cpu0 = cpuSeconds(pid());
    const fleet = new Proxies(options.profileDir);
    proxies = fleet;
    const t0 = wallNow();
    proxies.send({ cmd: 'start', config: { address: server.xds, proxies: registered, connections: 8 } });
    const configured = await proxies.waitFor('configured', `${n} proxies configured`);
    const coldStartS = (configured.at - t0) / 1000;
    const coldCpu = cpuSeconds(pid()) - cpu0;
    await new Promise((r) => setTimeout(r, 3000));
    const steady = memory(pid());
    const steadyHeap = await heapFigures(server);
    if (options.heapSnapshotDir) await heapSnapshot(pid(), options.heapSnapshotDir);

    // One endpoint of the shared service added.
    const endpointChange = async (address: string): Promise<{ times: Latency; cpu: number }> => {
      const cpuBefore = cpuSeconds(pid());
      fleet.send({ cmd: 'arm', change: { typeUrl: EDS, marker: address } });
      await new Promise((r) => setTimeout(r, 100));
      const t = wallNow();
      await ok(server, 'POST', '/v1/workloads', { service: 'shared', address, port: 8080 });
      const times = latencies((await fleet.waitFor('acked', 'EDS ACKed by all')).times, t);
      return { times, cpu: cpuSeconds(pid()) - cpuBefore };
    };
    // One TrafficPolicy on a service: `shared` (every proxy calls it) or one that only its callers see.
    const policyChange = async (header: string, options: { target?: string; circuitBreakers?: { maxRequests: number } } = {}): Promise<{ times: Latency; cpu: number; reached: number }> => {
      const target = options.target ?? 'shared';
      const reached = target === 'shared' ? n : upstreamServices.filter((services) => services.includes(target)).length;
      // The proxies' process reports once this many have ACKed: none would never report.
      if (reached === 0) throw new Error(`no proxy calls ${target}: nothing to time`);
      const cpuBefore = cpuSeconds(pid());
      fleet.send({ cmd: 'arm', change: { typeUrl: RDS, marker: header, proxies: reached } });
      await new Promise((r) => setTimeout(r, 100));
      const t = wallNow();
      await ok(server, 'POST', '/v1/policies:apply', [
        {
          apiVersion: 'accord.dev/v1',
          kind: 'TrafficPolicy',
          metadata: { name: target, namespace: 'default' },
          spec: { target, loadBalancer: { type: 'RING_HASH', hashKey: { header } }, ...(options.circuitBreakers ? { circuitBreakers: options.circuitBreakers } : {}) },
        },
      ]);
      const times = latencies((await fleet.waitFor('acked', `RDS ACKed by the ${reached} callers of ${target}`)).times, t);
      return { times, cpu: cpuSeconds(pid()) - cpuBefore, reached };
    };
    const { times: eds, cpu: edsCpu } = await endpointChange('10.250.0.2');
    const { times: rds, cpu: rdsCpu } = await policyChange('x-fleet-bench');
    const { times: rdsOne, cpu: rdsOneCpu, reached: oneCallers } = await policyChange('x-fleet-bench-one', { target: svc(1) });
    await new Promise((r) => setTimeout(r, 2000));
    const afterChanges = memory(pid()).rssMb;

    // kill -9 and restart on the same Redis.
    proxies.send({ cmd: 'expect-reconnect' });
    await new Promise((r) => setTimeout(r, 100));
    const killedAt = wallNow();
    server.kill9();
    await new Promise((r) => setTimeout(r, 200));
    await server.launch();
    const readyS = (wallNow() - killedAt) / 1000;
    const reconfigured = await proxies.waitFor('configured', `${n} proxies configured again`);
    const restartS = (reconfigured.at - killedAt) / 1000;
    const restartCpu = cpuSeconds(pid());
    const restartPeak = memory(pid()).peakMb;
    await new Promise((r) => setTimeout(r, 3000));
    if (options.profileDir) {
      // The first process (killed by kill -9) wrote no profile: repeat both changes in the profiled one.
      // Like the first policy change, the repeat changes the shared service's clusters too (CDS, then EDS warming, then RDS).
      const again = [await endpointChange('10.250.0.3'), await policyChange('x-fleet-bench-again', { circuitBreakers: { maxRequests: 1000 } })];
      console.error(`profiled repeat (not in the table): EDS max ${again[0]?.times.max.toFixed(0)} ms, RDS max ${again[1]?.times.max.toFixed(0)} ms`);
    }

    // Churn: endpoints of random services come and go.
    cpu0 = cpuSeconds(pid());
    const churn = await churnPhase(server, services, options.churnSeconds);
    const churnCpu = cpuSeconds(pid()) - cpu0;
    await new Promise((r) => setTimeout(r, Math.min(SAMPLE_EVERY_MS, options.churnSeconds * 1000)));
    const rssAfterChurn = memory(pid()).rssMb;
    const quiet = [{ t_s: Math.min(SAMPLE_EVERY_MS / 1000, options.churnSeconds), rss_mb: rssAfterChurn }];
    const quietSeconds = Math.min(QUIET_AFTER_CHURN_S, Math.max(SAMPLE_EVERY_MS / 1000, options.churnSeconds));
    for (let t = SAMPLE_EVERY_MS; t < quietSeconds * 1000; t += SAMPLE_EVERY_MS) {
      await new Promise((r) => setTimeout(r, SAMPLE_EVERY_MS));
      quiet.push({ t_s: (t + SAMPLE_EVERY_MS) / 1000, rss_mb: memory(pid()).rssMb });
    }
    const serverErrors = churn.failures > 0 ? server.output.join('').split('\n').filter((l) => l.includes('"error"') || l.includes('rror')).slice(0, 3).join('\n').slice(0, 1500) : '';

    await proxies.stop();
    proxies = undefined;
    await server.stop();

    // The limit: the bare transport fanning out one EDS change to the same N streams.
    const bare = await measureFanout('bare', n, { mode: 'sotw', sizes: [n], connections: 8, rounds: 3, profileDir: undefined });
    // The TrafficPolicy change reaches each proxy as three responses (CDS, EDS for the updated cluster, RDS).
    const bareThree = await measureFanout('bare', n, { mode: 'sotw', sizes: [n], connections: 8, rounds: 3, profileDir: undefined, responsesPerChange: 3 });
    return {
      n,
      services,
      cold_start_s: coldStartS,
      cold_start_cpu_s: coldCpu,
      steady_rss_mb: steady.rssMb,
      steady_heap_mb: steadyHeap.usedMb,
      steady_heap_total_mb: steadyHeap.totalMb,
      steady_external_mb: steadyHeap.externalMb,
      rss_kb_per_proxy: ((steady.rssMb - baseline.rssMb) * 1024) / n,
      eds,
      eds_cpu_s: edsCpu,
      rds,
      rds_cpu_s: rdsCpu,
      rds_one: { ...rdsOne, callers: oneCallers },
      rds_one_cpu_s: rdsOneCpu,
      rss_after_changes_mb: afterChanges,
      restart_s: restartS,
      restart_ready_s: readyS,
      restart_cpu_s: restartCpu,
      restart_rss_peak_mb: restartPeak,
      churn: { ...churn, cpu_s: churnCpu, rss_after_mb: rssAfterChurn, quiet },
      server_errors: serverErrors,
      limit: bare.median,
      ratio_eds_max: eds.max / bare.median.max,
      limit_three: bareThree.median,
      ratio_rds_max: rds.max / bareThree.median.max,
    };
  } finally {
    await proxies?.stop();
    await accord?.stop();
    const redis = new Redis(REDIS);
    const keys = [...(await redis.keys(`${prefix}*`)), ...(await redis.keys(`{${prefix}}*`))];
    for (let i = 0; i < keys.length; i += 500) await redis.del(...keys.slice(i, i + 500));
    await redis.quit();
  }
}

function dedupe(upstreams: { service: string; localPort: number }[]): { service: string; localPort: number }[] {
  const seen = new Set<string>();
  return upstreams.filter((u) => !seen.has(u.service) && seen.add(u.service));
}

/** ≈ 85 changes/s: a new endpoint of a random service, or one of those removed again. */
async function churnPhase(
  accord: AccordProcess,
  services: number,
  seconds: number,
): Promise<{ seconds: number; changes: number; per_s: number; samples: { t_s: number; rss_mb: number; heap_mb: number }[]; failures: number; first_failure: string }> {
  const pid = accord.pid ?? 0;
  const samples: { t_s: number; rss_mb: number; heap_mb: number }[] = [];
  const sample = async (t: number): Promise<void> => {
    samples.push({ t_s: Math.round(t / 1000), rss_mb: memory(pid).rssMb, heap_mb: await heapUsedMb(accord) });
  };
  const live: string[] = [];
  let changes = 0;
  let counter = 0;
  let failures = 0;
  let firstFailure = '';
  // A failed change is counted and shown, not fatal: the soak measures memory, and a failure is a finding.
  const failed = (error: unknown): void => {
    failures++;
    firstFailure ||= error instanceof Error ? error.message : String(error);
  };
  const started = performance.now();
  await sample(0);
  let nextSample = SAMPLE_EVERY_MS;
  const tickMs = 100;
  const perTick = (CHURN_PER_SECOND * tickMs) / 1000;
  let owed = 0;
  while (performance.now() - started < seconds * 1000) {
    const tickStart = performance.now();
    owed += perTick;
    const batch: Promise<void>[] = [];
    for (; owed >= 1; owed--) {
      if (live.length > 0 && (live.length >= 200 || Math.random() < 0.5)) {
        const id = live.splice(Math.floor(Math.random() * live.length), 1)[0] as string;
        batch.push(ok(accord, 'DELETE', `/v1/workloads/${encodeURIComponent(id)}`).then(() => undefined, failed));
      } else {
        const i = counter++;
        batch.push(
          ok(accord, 'POST', '/v1/workloads', { service: `svc-${Math.floor(Math.random() * services)}`, address: `10.251.${(i >> 8) & 255}.${i & 255}`, port: 8080 }).then((body) => {
            live.push((body as { id: string }).id);
          }, failed),
        );
      }
    }
    await Promise.all(batch);
    changes += batch.length;
    const elapsed = performance.now() - started;
    if (elapsed >= nextSample) {
      await sample(elapsed);
      nextSample += SAMPLE_EVERY_MS;
    }
    const wait = tickMs - (performance.now() - tickStart);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const elapsedS = (performance.now() - started) / 1000;
  await pool(live.splice(0), 16, (id) => ok(accord, 'DELETE', `/v1/workloads/${encodeURIComponent(id)}`).catch(failed));
  return { seconds: elapsedS, changes, per_s: changes / elapsedS, samples, failures, first_failure: firstFailure };
}

const f = (x: number, digits = 0): string => (Number.isFinite(x) ? x.toFixed(digits) : '-');

export async function run(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  const results: FleetResult[] = [];
  for (const n of options.sizes) results.push(await runOne(n, options));
  console.log(`fleet: N proxies (one process, 8 HTTP/2 connections, one ADS stream each) on one \`accord serve --redis\`; ${UPSTREAMS_PER_PROXY} upstreams + shared per proxy`);
  console.log('');
  const header = ['figure', ...results.map((r) => `N=${r.n} (${r.services} services)`)];
  const row = (label: string, cell: (r: FleetResult) => string): string => `| ${[label, ...results.map(cell)].join(' | ')} |`;
  console.log(`| ${header.join(' | ')} |`);
  console.log(`|${header.map(() => ' --- ').join('|')}|`);
  console.log(row('cold start → all configured (incl. certificates)', (r) => `${f(r.cold_start_s, 2)} s, ${f(r.cold_start_cpu_s, 1)} CPU s`));
  console.log(row('control-plane RSS steady / heap used', (r) => `${f(r.steady_rss_mb)} MB (${f(r.rss_kb_per_proxy, 1)} KB/proxy) / ${f(r.steady_heap_mb)} MB`));
  console.log(row('of which: V8 heap reserved / outside the heap (external)', (r) => `${f(r.steady_heap_total_mb)} MB / ${f(r.steady_external_mb)} MB`));
  console.log(row('shared endpoint added → EDS ACKed by all p50/p99/max', (r) => `${f(r.eds.p50)} / ${f(r.eds.p99)} / ${f(r.eds.max)} ms, ${f(r.eds_cpu_s, 2)} CPU s`));
  console.log(row('bare transport limit (xds-fanout) p50/p99/max; ratio of max', (r) => `${f(r.limit.p50)} / ${f(r.limit.p99)} / ${f(r.limit.max)} ms; ${f(r.ratio_eds_max, 1)}×`));
  console.log(row('TrafficPolicy on shared → RDS ACKed by all p50/p99/max', (r) => `${f(r.rds.p50)} / ${f(r.rds.p99)} / ${f(r.rds.max)} ms, ${f(r.rds_cpu_s, 2)} CPU s`));
  console.log(row('bare transport limit, three responses per proxy p50/p99/max; ratio of max', (r) => `${f(r.limit_three.p50)} / ${f(r.limit_three.p99)} / ${f(r.limit_three.max)} ms; ${f(r.ratio_rds_max, 1)}×`));
  console.log(row('TrafficPolicy on one service → RDS ACKed by its callers p50/p99/max', (r) => `${f(r.rds_one.p50)} / ${f(r.rds_one.p99)} / ${f(r.rds_one.max)} ms (${f(r.rds_one.callers)} callers), ${f(r.rds_one_cpu_s, 2)} CPU s`));
  console.log(row('RSS after the changes', (r) => `${f(r.rss_after_changes_mb)} MB`));
  console.log(row('kill -9 + restart → all configured again', (r) => `${f(r.restart_s, 2)} s (ready ${f(r.restart_ready_s, 2)} s), ${f(r.restart_cpu_s, 1)} CPU s, RSS peak ${f(r.restart_rss_peak_mb)} MB`));
  console.log(
    row('churn: changes/s, CPU s, RSS MB / heap MB every 10 s, RSS after', (r) =>
      `${f(r.churn.per_s)}/s for ${f(r.churn.seconds)} s, ${f(r.churn.cpu_s, 1)} CPU s; ${r.churn.samples.map((s) => `${f(s.rss_mb)}/${f(s.heap_mb)}`).join(' → ')}; ${f(r.churn.rss_after_mb)} MB`,
    ),
  );
  console.log(row('RSS while quiet after the churn, every 10 s', (r) => r.churn.quiet.map((q) => `${f(q.rss_mb)} MB (${f(q.t_s)} s)`).join(' → ')));
  for (const r of results) if (r.churn.failures > 0) console.log(`N=${r.n}: ${r.churn.failures} churn changes failed, first: ${r.churn.first_failure}\nserver log: ${r.server_errors}`);
  console.log('');
  console.log('times: from just before the change (POST) until each proxy wrote its ACK; restart: from kill -9; CPU s: user+system of the control plane in the phase.');
  const round = (x: unknown): unknown => (typeof x === 'number' ? Math.round(x * 100) / 100 : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Array.isArray(v) ? v.map(round) : round(v)])) : x);
  const last = results[results.length - 1];
  console.log(JSON.stringify({ bench: 'fleet', ...(round(last) as object), ...(results.length > 1 ? { runs: results.map(round) } : {}) }));
}
