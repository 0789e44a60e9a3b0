import { describe, expect, it } from 'vitest';
import { ProxyStatusReporter, STATUS_TYPES, type ProxyStatusDeps } from '../../src/app/proxy-status.js';
import type { Workload } from '../../src/core/workload.js';
import { silentLogger } from '../../src/observability/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { ProxySummary, TypeSummary } from '../../src/xds/index.js';
import { FakeClock, flushMicrotasks } from '../registry/helpers.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');

/** Summaries as the xDS server gives them: every type ACKed, but a few proxies with a NACK, a late ACK or a type not sent. */
function summaries(count: number): ProxySummary[] {
  return Array.from({ length: count }, (_, i) => {
    const types: TypeSummary[] = STATUS_TYPES.filter((_, t) => !(i % 7 === 0 && t === 4)).map(([, typeUrl], t) => ({
      typeUrl,
      resources: 3,
      nacked: i % 11 === 0 && t === 1,
      oldestUnackedAt: i % 5 === 0 && t === 3 ? NOW - (i % 2 === 0 ? 60_000 : 1_000) : undefined,
      lastNonce: 'n1',
      lastNack: i % 11 === 0 && t === 1 ? { nonce: 'n0', errorDetail: `bad endpoint ${i}`, at: new Date(NOW - 5_000).toISOString() } : undefined,
    }));
    return { nodeId: `svc-${i % 100}-${i}`, peer: `ipv4:10.0.${(i >> 8) & 255}.${i & 255}:5000`, connectedAt: new Date(NOW - i).toISOString(), types };
  });
}

function reporterOver(proxies: readonly ProxySummary[], store: MemoryStore, onPut: () => void = () => undefined, extra: Partial<ProxyStatusDeps> = {}) {
  return new ProxyStatusReporter({
    store: {
      putReport: async (kind, replica, value, ttlMs) => {
        onPut();
        await store.putReport(kind, replica, value, ttlMs);
      },
      listReports: (kind) => store.listReports(kind),
    },
    replica: 'replica-a',
    proxies: () => proxies,
    workload: (id) => ({ id, service: id.split('-').slice(0, 2).join('-'), namespace: 'default' }) as Workload,
    leaf: (id) => (id.endsWith('3') ? { serial: `0a${id.length}`, notAfter: NOW + 3_600_000 } : undefined),
    logger: silentLogger(),
    now: () => NOW,
    staleAfterMs: 10_000,
    intervalMs: 2_000,
    ...extra,
  });
}

describe('ProxyStatusReporter', () => {
  it('builds its report in slices, so other callbacks run meanwhile, and publishes exactly the rows', async () => {
    const store = new MemoryStore({ logger: silentLogger() });
    // 20,000 rows take far longer than one 5 ms slice on any machine.
    const proxies = summaries(20_000);
    let queuedCallbackRan = false;
    let ranBeforeWrite: boolean | undefined;
    const reporter = reporterOver(proxies, store, () => {
      ranBeforeWrite = queuedCallbackRan;
    });
    setImmediate(() => {
      queuedCallbackRan = true;
    });
    await reporter.publish();
    expect(ranBeforeWrite).toBe(true);
    const [text] = await store.listReports('proxy-status');
    expect(JSON.parse(text ?? '{}')).toEqual({ version: 1, replica: 'replica-a', publishedAt: NOW, proxies: reporter.rows() });
  });

  it('counts sync states as the rows show them', () => {
    const reporter = reporterOver(summaries(300), new MemoryStore({ logger: silentLogger() }));
    const rows = reporter.rows();
    expect(reporter.syncStates()).toEqual(rows.map((row) => row.sync));
    // Every state occurs, so the comparison above covers each of them.
    const seen = new Set(rows.flatMap((row) => Object.values(row.sync)));
    expect([...seen].sort()).toEqual(['NACKED', 'NOT SENT', 'SENT', 'STALE', 'SYNCED']);
    expect(rows.find((row) => row.nacks.length > 0)?.nacks[0]).toMatchObject({ type: 'EDS', errorDetail: 'bad endpoint 0' });
  });

  it('waits while a fleet is reconnecting, publishes once it is over, and never waits longer than maxDeferMs', async () => {
    const clock = new FakeClock(NOW);
    const puts: { at: number; ttlMs: number }[] = [];
    const store = new MemoryStore({ logger: silentLogger() });
    let storm = true;
    const reporter = reporterOver(summaries(3), store, () => undefined, {
      clock,
      deferWhile: () => storm,
      maxDeferMs: 10_000,
      store: {
        putReport: async (kind, replica, value, ttlMs) => {
          puts.push({ at: clock.now(), ttlMs });
          await store.putReport(kind, replica, value, ttlMs);
        },
        listReports: (kind) => store.listReports(kind),
      },
    });
    // In steps of the deferral check, so each put is recorded at the time its timer fired.
    const advance = async (ms: number): Promise<void> => {
      for (let step = 0; step < Math.max(1, ms / 250); step += 1) {
        clock.advance(Math.min(250, ms));
        // publish() runs its slices on immediates and writes on promises.
        for (let i = 0; i < 5; i += 1) await flushMicrotasks();
      }
    };
    reporter.start();
    await advance(0);
    await advance(3_000);
    expect(puts).toEqual([]);
    storm = false;
    await advance(250);
    expect(puts.map((p) => p.at)).toEqual([NOW + 3_250]);
    // The report outlives three intervals plus the longest wait, so a deferred publish never lets it lapse.
    expect(puts[0]?.ttlMs).toBe(3 * 2_000 + 10_000);

    // A storm that does not end: the next publish waits 10 s, not for ever.
    storm = true;
    await advance(2_000);
    await advance(9_000);
    expect(puts).toHaveLength(1);
    await advance(1_500);
    expect(puts).toHaveLength(2);
    expect(puts[1]!.at - puts[0]!.at).toBeGreaterThanOrEqual(2_000 + 10_000);
    expect(puts[1]!.at - puts[0]!.at).toBeLessThanOrEqual(2_000 + 10_000 + 250);
    reporter.stop();
  });

  it('publishes on its interval when nothing is reconnecting', async () => {
    const clock = new FakeClock(NOW);
    let puts = 0;
    const reporter = reporterOver(summaries(3), new MemoryStore({ logger: silentLogger() }), () => (puts += 1), { clock, deferWhile: () => false, maxDeferMs: 10_000 });
    reporter.start();
    for (let t = 0; t <= 6_000; t += 1_000) {
      clock.advance(t === 0 ? 0 : 1_000);
      for (let i = 0; i < 5; i += 1) await flushMicrotasks();
    }
    // At 0, 2 s, 4 s and 6 s.
    expect(puts).toBe(4);
    reporter.stop();
  });
});
