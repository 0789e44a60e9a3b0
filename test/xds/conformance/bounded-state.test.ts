// Issue #9 item 5: NACKs with arbitrary type_url values grew per-type state that was never pruned
// (heap 40 → 133 MB), and client strings went into the log whole (a 1 MB node.id grew the log by
// 20 MB in 0.4 s). Now metrics know only the served types (one label for the rest), node.id and
// other client strings are capped with INVALID_ARGUMENT naming the field, and whatever a client
// sends is clipped before it is logged.
import * as grpc from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { XdsMetrics } from '../../../src/xds/metrics.js';
import { ack } from '../../support/ads-client.js';
import { capturedLogger } from '../../support/captured-logger.js';
import { eventually, node, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;
const MB = 1024 * 1024;

function randomTypeUrl(i: number): string {
  return `type.googleapis.com/attacker.T${i}.${Math.random().toString(36).slice(2)}`;
}

describe('bounded per-client state', () => {
  const log = capturedLogger('debug');
  const h = useHarness({ logger: log.logger });

  it('metric tallies stay bounded under 20,000 NACKs with random type URLs', async () => {
    const metrics = new XdsMetrics(new Registry());
    for (let i = 0; i < 20_000; i++) {
      metrics.nacked(randomTypeUrl(i), i % 2 === 0 ? 'sotw' : 'delta');
      metrics.responseSent(randomTypeUrl(i), 'delta');
    }
    metrics.nacked(T.Cluster, 'sotw');
    expect(metrics.trackedTypeLabels()).toBeLessThanOrEqual(Object.keys(T).length + 1);
  });

  it('thousands of NACKs with random type URLs over gRPC add no metric series and keep the log small', async () => {
    const x = h();
    const client = x.client();
    const logBefore = log.bytes();
    let nacks = 0;
    const streams = [];
    for (let s = 0; s < 100; s++) {
      const stream = client.delta();
      stream.send({ node: node(`n${s}`), type_url: T.Cluster, resource_names_subscribe: ['*'] });
      for (let i = 0; i < 30; i++) {
        stream.send({ type_url: randomTypeUrl(i), response_nonce: `nonce-${i}`, error_detail: { code: 13, message: 'x'.repeat(10_000) } });
        nacks += 1;
      }
      streams.push(stream);
    }
    await eventually(async () => ((await x.counter('accord_xds_nacks_total')) >= 3_000 ? true : undefined), 20_000, 'the server to count every NACK');
    for (const stream of streams) stream.close();
    const ok = x.client().sotw();
    x.set('ok', T.Cluster, [x.make.cluster('c1')]);
    ok.send({ node: node('ok'), type_url: T.Cluster, resource_names: [] });
    ack(ok, await ok.next());
    const text = await x.metrics.metrics();
    const nackSeries = text.split('\n').filter((line) => line.startsWith('accord_xds_nacks_total{'));
    expect(nackSeries.length).toBeLessThanOrEqual(2 * (Object.keys(T).length + 1));
    for (const line of nackSeries) expect(line).not.toContain('attacker');
    // 3,000 NACKs of 10 KB each: logged at most a few per stream, each clipped.
    const grown = log.bytes() - logBefore;
    expect(nacks).toBe(3_000);
    expect(grown, `the log grew by ${grown} bytes`).toBeLessThan(3 * MB);
    for (const line of log.lines) expect(line.length).toBeLessThan(4_096);
  });

  it('a 1 MB node.id is INVALID_ARGUMENT naming the field, and the log line stays small', async () => {
    const x = h();
    const logBefore = log.bytes();
    for (const open of [() => x.client().sotw(), () => x.client().delta()]) {
      const stream = open();
      stream.send({ node: node('n'.repeat(MB)), type_url: T.Cluster });
      const end = await stream.ended(10_000);
      expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
      expect(end.details).toContain('node.id');
      expect(end.details).toContain('1024');
      expect(end.details.length).toBeLessThan(300);
    }
    const fetched = await x
      .client()
      .fetch('cds', { node: node('n'.repeat(MB)), type_url: T.Cluster })
      .then(() => undefined, (e: grpc.ServiceError) => e);
    expect(fetched && grpc.status[fetched.code]).toBe('INVALID_ARGUMENT');
    expect(log.bytes() - logBefore, 'log bytes for three refused 1 MB node ids').toBeLessThan(16 * 1024);
  });

  it('over-long type_url, resource names and node fields are INVALID_ARGUMENT naming the field', async () => {
    const x = h();
    const cases: [Record<string, unknown>, string][] = [
      [{ node: node('a'), type_url: `type.googleapis.com/${'t'.repeat(MB)}` }, 'type_url'],
      [{ node: node('a'), type_url: T.ClusterLoadAssignment, resource_names: ['r'.repeat(100_000)] }, 'resource_names'],
      [{ node: node('a', { cluster: 'c'.repeat(100_000) }), type_url: T.Cluster }, 'node.cluster'],
      [{ node: node('a', { user_agent_name: 'u'.repeat(100_000) }), type_url: T.Cluster }, 'node.user_agent_name'],
      [{ node: node('a', { client_features: Array.from({ length: 1000 }, (_, i) => `f${i}`) }), type_url: T.Cluster }, 'node.client_features'],
    ];
    for (const [request, field] of cases) {
      const stream = x.client().sotw();
      stream.send(request);
      const end = await stream.ended(10_000);
      expect(grpc.status[end.code], field).toBe('INVALID_ARGUMENT');
      expect(end.details).toContain(field);
      expect(end.details.length).toBeLessThan(300);
    }
    const delta = x.client().delta();
    delta.send({ node: node('a'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['ok'], initial_resource_versions: { ['k'.repeat(100_000)]: 'v' } });
    const end = await delta.ended(10_000);
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
    expect(end.details).toContain('initial_resource_versions');
  });
});
