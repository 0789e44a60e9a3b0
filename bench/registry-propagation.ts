/**
 * Registry propagation benchmark: two RedisStore replicas (A, B) on one random key prefix.
 *   1. saturated: N registrations on A with C in flight; raw puts/s, and the time until each
 *      workload appears in B's mirror.
 *   2. paced: registrations on A at a fixed rate (default 2,000/s, the target load); time until
 *      each appears in B's mirror (p50/p99). These are the headline p50/p99.
 *   limit: plain SETs at the same concurrency, auto-pipelined like the store's client: what Redis and
 *   the client allow; ratio = registrations/s ÷ limit.
 * Flags: --quick, --redis URL (default $ACCORD_BENCH_REDIS or redis://127.0.0.1:6379), --n N,
 *   --concurrency C, --rate R, --quiet-ms Q, --max-delay-ms M (B's mirror debounce).
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { Workload } from '../src/core/workload.js';
import { silentLogger } from '../src/observability/logger.js';
import { RegistryMirror, type MirrorSnapshot } from '../src/registry/mirror.js';
import { RedisStore } from '../src/registry/redis-store.js';

interface Settings {
  readonly redis: string;
  readonly n: number;
  readonly paced: number;
  readonly concurrency: number;
  readonly rate: number;
  readonly quietMs: number;
  readonly maxDelayMs: number;
}

function parseArgs(argv: readonly string[]): Settings {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index === -1 ? undefined : argv[index + 1];
  };
  const number = (flag: string, fallback: number): number => {
    const raw = value(flag);
    const parsed = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(parsed) || parsed < 0) throw new Error(`${flag}: expected a non-negative number, got "${raw}"`);
    return parsed;
  };
  const n = number('--n', quick ? 5_000 : 30_000);
  return {
    redis: value('--redis') ?? process.env.ACCORD_BENCH_REDIS ?? 'redis://127.0.0.1:6379',
    n,
    paced: quick ? Math.min(n, 4_000) : Math.min(n, 20_000),
    concurrency: number('--concurrency', 64),
    rate: number('--rate', 2_000),
    quietMs: number('--quiet-ms', 0),
    maxDelayMs: number('--max-delay-ms', 10),
  };
}

function workload(id: string, i: number): Workload {
  return {
    id,
    service: `svc-${i % 50}`,
    namespace: 'default',
    serviceAccount: `svc-${i % 50}`,
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    meshPort: 15006,
    protocol: 'http',
    labels: { app: `svc-${i % 50}`, version: 'v1' },
    locality: { region: 'bench', zone: 'bench-a' },
    health: 'HEALTHY',
    upstreams: [{ service: `svc-${(i + 1) % 50}`, namespace: 'default', localPort: 9001 }],
    leaseMs: 600_000,
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

/** Times from "put sent" to "visible in B's mirror", one entry per workload. */
class ArrivalClock {
  private readonly sentAt = new Map<string, number>();
  readonly latencies: number[] = [];
  private waiting: (() => void) | undefined;

  sent(id: string): void {
    this.sentAt.set(id, performance.now());
  }

  onSnapshot(snapshot: MirrorSnapshot): void {
    const now = performance.now();
    for (const [id, at] of this.sentAt) {
      if (snapshot.workloads.has(id)) {
        this.latencies.push(now - at);
        this.sentAt.delete(id);
      }
    }
    if (this.sentAt.size === 0) this.waiting?.();
  }

  async drained(timeoutMs: number): Promise<void> {
    if (this.sentAt.size === 0) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.sentAt.size} workloads never reached replica B`)), timeoutMs);
      this.waiting = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, count) }, async () => {
    while (next < count) await task(next++);
  });
  await Promise.all(workers);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function run(argv: string[]): Promise<void> {
  const settings = parseArgs(argv);
  const prefix = `{accord-bench-${randomBytes(4).toString('hex')}}:`;
  const logger = silentLogger();
  const a = await RedisStore.connect({ target: settings.redis, keyPrefix: prefix, logger });
  const b = await RedisStore.connect({ target: settings.redis, keyPrefix: prefix, logger });
  const mirror = new RegistryMirror({ store: b, logger, quietMs: settings.quietMs, maxDelayMs: settings.maxDelayMs });
  let clock = new ArrivalClock();
  mirror.onChange((snapshot) => clock.onSnapshot(snapshot));
  mirror.start();
  const limitClient = new Redis(settings.redis, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
  try {
    // Limit: the same number of round trips as plain SETs.
    const limitStart = performance.now();
    await inParallel(settings.n, settings.concurrency, (i) => limitClient.set(`${prefix}limit:${i % 1000}`, 'x'));
    const limitPerS = settings.n / ((performance.now() - limitStart) / 1000);

    // Phase 1: saturated.
    const saturatedStart = performance.now();
    await inParallel(settings.n, settings.concurrency, async (i) => {
      const id = `sat-${i}`;
      clock.sent(id);
      await a.putWorkload(workload(id, i));
    });
    const putsPerS = settings.n / ((performance.now() - saturatedStart) / 1000);
    await clock.drained(60_000);
    const saturated = [...clock.latencies].sort((x, y) => x - y);

    // Phase 2: paced at the target rate.
    clock = new ArrivalClock();
    const pacedStart = performance.now();
    const inFlight = new Set<Promise<unknown>>();
    for (let i = 0; i < settings.paced; i++) {
      const due = pacedStart + (i * 1000) / settings.rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const id = `paced-${i}`;
      clock.sent(id);
      const put = a.putWorkload(workload(id, i)).finally(() => inFlight.delete(put));
      inFlight.add(put);
    }
    await Promise.all(inFlight);
    const achievedRate = settings.paced / ((performance.now() - pacedStart) / 1000);
    await clock.drained(60_000);
    const paced = [...clock.latencies].sort((x, y) => x - y);

    const rows: [string, string][] = [
      ['redis', settings.redis.replace(/\/\/[^@/]*@/, '//***@')],
      ['mirror debounce (quiet / max ms)', `${settings.quietMs} / ${settings.maxDelayMs}`],
      ['limit: plain SET round trips/s', limitPerS.toFixed(0)],
      [`saturated: registrations/s (n=${settings.n}, ${settings.concurrency} in flight)`, putsPerS.toFixed(0)],
      ['saturated: ratio to limit', (putsPerS / limitPerS).toFixed(2)],
      ['saturated: A→B mirror p50 / p99 ms', `${percentile(saturated, 50).toFixed(1)} / ${percentile(saturated, 99).toFixed(1)}`],
      [`paced: rate target / achieved per s (n=${settings.paced})`, `${settings.rate} / ${achievedRate.toFixed(0)}`],
      ['paced: A→B mirror p50 / p99 / max ms', `${percentile(paced, 50).toFixed(1)} / ${percentile(paced, 99).toFixed(1)} / ${(paced.at(-1) ?? NaN).toFixed(1)}`],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    console.log('registry-propagation');
    for (const [label, result] of rows) console.log(`  ${label.padEnd(width)}  ${result}`);
    const round = (x: number) => Math.round(x * 100) / 100;
    console.log(
      JSON.stringify({
        bench: 'registry-propagation',
        n: settings.n,
        puts_per_s: Math.round(putsPerS),
        p50_ms: round(percentile(paced, 50)),
        p99_ms: round(percentile(paced, 99)),
        paced_n: settings.paced,
        paced_rate: settings.rate,
        saturated_p50_ms: round(percentile(saturated, 50)),
        saturated_p99_ms: round(percentile(saturated, 99)),
        limit: Math.round(limitPerS),
        ratio: round(putsPerS / limitPerS),
        rss_mb: Math.round(process.memoryUsage().rss / 1_048_576),
      }),
    );
  } finally {
    mirror.stop();
    await a.close();
    await b.close();
    await deleteKeys(limitClient, prefix);
    limitClient.disconnect();
  }
}

async function deleteKeys(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix.replace(/[[\]*?\\]/g, '\\$&')}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await client.del(...keys);
  } while (cursor !== '0');
}
