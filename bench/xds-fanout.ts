/**
 * xds-fanout: how long until N proxies watching one shared EDS resource have ACKed an endpoint
 * change, against the limit measured in the same run: a bare grpc-js server writing the same
 * response bytes to N streams.
 *
 *   npm run bench -- xds-fanout [--quick] [--mode=sotw|delta] [--n=1000,5000] [--connections=8] [--rounds=3] [--profile-dir=DIR]
 *
 * Three processes per measurement: this orchestrator, the server (workers/xds-fanout-server.js,
 * Accord or bare, so its RSS is its own) and the simulated proxies
 * (workers/xds-fanout-client.js), which talk real gRPC over a few HTTP/2 connections.
 */
import { flagValue } from './support/args.js';
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '../src/xds/contract.js';
import type { ChildMessage, ParentMessage, XdsMode } from './workers/xds-fanout-client.js';
import type { ServerChildMessage, ServerKind, ServerParentMessage } from './workers/xds-fanout-server.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const CLIENT_WORKER = path.join(here, 'workers', 'xds-fanout-client.js');
const SERVER_WORKER = path.join(here, 'workers', 'xds-fanout-server.js');
const RESOURCE = 'shared';
const ENDPOINTS_PER_RESOURCE = 20;
const STEP_TIMEOUT_MS = 180_000;

export interface Options {
  mode: XdsMode;
  sizes: number[];
  connections: number;
  rounds: number;
  /** Write a V8 CPU profile of each server process here. */
  profileDir: string | undefined;
  /** Bare server only: responses per stream per change (see FanoutServerConfig). */
  responsesPerChange?: number;
}

function parseArgs(argv: string[]): Options {
  const value = (name: string): string | undefined => flagValue(argv, name);
  const quick = argv.includes('--quick');
  const sizes = value('n')?.split(',').map(Number) ?? (quick ? [1000] : [1000, 5000, 10000]);
  if (sizes.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`--n: expected positive integers, got ${value('n')}`);
  const connections = Number(value('connections') ?? 8);
  if (!Number.isInteger(connections) || connections <= 0) throw new Error(`--connections: expected a positive integer`);
  const rounds = Number(value('rounds') ?? 3);
  if (!Number.isInteger(rounds) || rounds <= 0) throw new Error(`--rounds: expected a positive integer`);
  const mode = value('mode') ?? 'sotw';
  if (mode !== 'sotw' && mode !== 'delta') throw new Error(`--mode: expected sotw or delta, got ${mode}`);
  return { mode, sizes, connections, rounds, profileDir: value('profile-dir') };
}

/** Nearest-rank percentile of an ascending list. */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

interface RoundSummary {
  p50: number;
  p99: number;
  max: number;
}

function summarize(latencies: readonly number[]): RoundSummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted[sorted.length - 1] };
}

/** The median round by its max. */
function medianRound(rounds: readonly RoundSummary[]): RoundSummary {
  const sorted = [...rounds].sort((a, b) => a.max - b.max);
  return sorted[Math.floor(sorted.length / 2)];
}

/** A forked worker spoken to over IPC, with "wait for message" and failure reporting. */
class Worker<In, Out extends { event: string }> {
  private readonly waiters: { match: (m: Out) => boolean; resolve: (m: Out) => void }[] = [];
  private failure: string | undefined;
  private readonly exited: Promise<void>;
  private readonly child: ChildProcess;

  constructor(
    private readonly label: string,
    script: string,
    extraNodeArgs: readonly string[] = [],
  ) {
    const execArgv = ['--max-old-space-size=4096', ...extraNodeArgs];
    const child: ChildProcess = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv });
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (message: Out) => {
      if (message.event === 'error') {
        this.failure ??= (message as Out & { message?: string }).message ?? 'unknown error';
        return;
      }
      const i = this.waiters.findIndex((w) => w.match(message));
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(message);
    });
  }

  send(message: In): void {
    this.child.send(message as object);
  }

  waitFor<E extends Out['event']>(event: E, what: string): Promise<Extract<Out, { event: E }>> {
    return new Promise((resolve, reject) => {
      const poll = setInterval(() => {
        if (this.failure) {
          clearInterval(poll);
          clearTimeout(timer);
          reject(new Error(`${what}: ${this.label} failed: ${this.failure}`));
        }
      }, 100);
      const timer = setTimeout(() => {
        clearInterval(poll);
        reject(new Error(`${what}: timed out after ${STEP_TIMEOUT_MS} ms`));
      }, STEP_TIMEOUT_MS);
      this.waiters.push({
        match: (m) => m.event === event,
        resolve: (m) => {
          clearInterval(poll);
          clearTimeout(timer);
          resolve(m as Extract<Out, { event: E }>);
        },
      });
    });
  }

  async stop(message: In): Promise<void> {
    if (this.child.exitCode === null && this.child.connected) this.send(message);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface Measurement {
  rounds: RoundSummary[];
  median: RoundSummary;
  rssMb: number;
  rssKbPerStream: number;
}

export async function measure(kind: ServerKind, n: number, options: Options): Promise<Measurement> {
  const profile = options.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${kind}-${n}.cpuprofile`] : [];
  const server = new Worker<ServerParentMessage, ServerChildMessage>(`${kind} server`, SERVER_WORKER, profile);
  let client: Worker<ParentMessage, ChildMessage> | undefined;
  try {
    server.send({
      cmd: 'start',
      config: {
        kind,
        mode: options.mode,
        n,
        rounds: options.rounds,
        resourceName: RESOURCE,
        endpointsPerResource: ENDPOINTS_PER_RESOURCE,
        nodePrefix: 'proxy-',
        allAckedTimeoutMs: STEP_TIMEOUT_MS / 2,
        responsesPerChange: options.responsesPerChange,
      },
    });
    const { address } = await server.waitFor('listening', `${kind} server start`);
    client = new Worker<ParentMessage, ChildMessage>('proxies', CLIENT_WORKER);
    client.send({
      cmd: 'start',
      config: { address, mode: options.mode, n, connections: options.connections, typeUrl: TypeUrl.ClusterLoadAssignment, resourceName: RESOURCE, nodePrefix: 'proxy-', batch: 500 },
    });
    await client.waitFor('ready', `${n} proxies subscribing to ${kind}`);
    server.send({ cmd: 'measure' });
    const measured = await server.waitFor('measured', `${kind} fan-out to ${n}`);
    const rounds = measured.rounds.map(summarize);
    return {
      rounds,
      median: medianRound(rounds),
      rssMb: measured.rssMb,
      rssKbPerStream: ((measured.rssMb - measured.baselineRssMb) * 1024) / n,
    };
  } finally {
    await client?.stop({ cmd: 'stop' });
    await server.stop({ cmd: 'stop' });
  }
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

export async function run(argv: string[]): Promise<void> {
  const options = parseArgs(argv);
  console.log(
    `xds-fanout: N proxies (one process, ${options.connections} HTTP/2 connections) watch one EDS resource (${ENDPOINTS_PER_RESOURCE} endpoints) on ADS ${options.mode === 'delta' ? 'Delta' : 'SotW'};`,
  );
  console.log(`one endpoint change per round; median of ${options.rounds} rounds after a warm-up. Times in ms until each stream's ACK reached the server.`);
  console.log('');
  console.log('     n | p50 ms | p99 ms | max ms | limit p50 | limit max | ratio | server RSS MB | RSS KB/stream | limit RSS KB/stream');
  console.log('-------+--------+--------+--------+-----------+-----------+-------+---------------+---------------+--------------------');
  const rows: Record<string, number>[] = [];
  for (const n of options.sizes) {
    const accord = await measure('accord', n, options);
    const bare = await measure('bare', n, options);
    const ratio = accord.median.max / bare.median.max;
    console.log(
      [
        String(n).padStart(6),
        fmt(accord.median.p50).padStart(6),
        fmt(accord.median.p99).padStart(6),
        fmt(accord.median.max).padStart(6),
        fmt(bare.median.p50).padStart(9),
        fmt(bare.median.max).padStart(9),
        ratio.toFixed(2).padStart(5),
        fmt(accord.rssMb).padStart(13),
        fmt(accord.rssKbPerStream).padStart(13),
        fmt(bare.rssKbPerStream).padStart(18),
      ].join(' | '),
    );
    rows.push({
      n,
      p50_ms: round2(accord.median.p50),
      p99_ms: round2(accord.median.p99),
      max_ms: round2(accord.median.max),
      rss_mb: round2(accord.rssMb),
      rss_kb_per_stream: round2(accord.rssKbPerStream),
      limit_ms: round2(bare.median.max),
      limit_p50_ms: round2(bare.median.p50),
      limit_rss_kb_per_stream: round2(bare.rssKbPerStream),
      ratio: round2(ratio),
    });
  }
  console.log('');
  console.log('limit = a bare grpc-js server writing the same response bytes to the same N streams; ratio = max / limit max.');
  console.log('RSS KB/stream = (server RSS with N streams - server RSS before listening) / N.');
  const last = rows[rows.length - 1];
  console.log(JSON.stringify({ bench: 'xds-fanout', mode: options.mode, ...last, ...(rows.length > 1 ? { runs: rows } : {}) }));
}
