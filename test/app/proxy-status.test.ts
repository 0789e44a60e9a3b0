import { describe, expect, it } from 'vitest';
import { ProxyStatusReporter, STATUS_TYPES } from '../../src/app/proxy-status.js';
import type { Workload } from '../../src/core/workload.js';
import { silentLogger } from '../../src/observability/logger.js';
import { MemoryStore } from '../../src/registry/memory-store.js';
import type { ProxySummary, TypeSummary } from '../../src/xds/index.js';

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

function reporterOver(proxies: readonly ProxySummary[], store: MemoryStore, onPut: () => void = () => undefined) {
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
});
