// Issue #9 item 3: streams that never sent a request held their place forever, so 2,000 idle
// streams locked legitimate proxies out with RESOURCE_EXHAUSTED. Now a stream must send its first
// request within a deadline; streams not yet accepted by the source are capped apart from accepted
// ones, per peer address and overall; and each workload has its own cap. Limits are small here so
// the test runs fast; the defaults are in src/xds/server.ts and docs/configuration.md.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ConfigSource } from '../../../src/xds/contract.js';
import { ack, type SotwStream, type XdsTestClient } from '../../support/ads-client.js';
import { capturedLogger } from '../../support/captured-logger.js';
import { eventually, names, node, TypeUrl, useHarness } from '../../support/conformance.js';
import { startXdsHarness, type XdsHarness } from '../../support/xds-harness.js';
import type { SnapshotCache } from '../../../src/xds/snapshot-cache.js';

const T = TypeUrl;
const IDLE_STREAMS = 2_000;
const FIRST_REQUEST_TIMEOUT_MS = 6_000;
const LIMITS = {
  maxStreams: 100,
  maxPendingStreams: 60,
  maxStreamsPerPeer: 80,
  maxPendingStreamsPerPeer: 50,
  maxStreamsPerWorkload: 3,
  firstRequestTimeoutMs: FIRST_REQUEST_TIMEOUT_MS,
};

async function legitimateProxy(x: XdsHarness, client: XdsTestClient, id: string): Promise<SotwStream> {
  x.set(id, T.Cluster, [x.make.cluster(`${id}-c`)]);
  const s = client.sotw();
  s.send({ node: node(id), type_url: T.Cluster, resource_names: [] });
  const res = await s.next(10_000);
  expect(names(x.codec, res)).toEqual([`${id}-c`]);
  ack(s, res);
  return s;
}

/** Opens `count` streams that never send anything, over several connections. */
function idleStreams(x: XdsHarness, count: number): SotwStream[] {
  const streams: SotwStream[] = [];
  const perClient = 250;
  for (let i = 0; i < count; i += perClient) {
    const client = x.client();
    for (let j = i; j < Math.min(count, i + perClient); j++) streams.push(client.sotw());
  }
  return streams;
}

describe('stream admission: idle and unauthenticated streams cannot lock proxies out', () => {
  const log = capturedLogger('info');
  const h = useHarness({ limits: LIMITS, listenIpv6: true, logger: log.logger });

  it(`${IDLE_STREAMS} idle streams from one address: the excess is refused at once, a proxy still connects, and the idle ones are closed after the deadline`, async () => {
    const x = h();
    const idle = idleStreams(x, IDLE_STREAMS);
    const refused = await eventually(
      () => {
        const n = idle.filter((s) => s.isEnded).length;
        return n >= IDLE_STREAMS - LIMITS.maxPendingStreamsPerPeer ? n : undefined;
      },
      20_000,
      'refusals of the streams over the per-peer pending cap',
    );
    expect(refused).toBe(IDLE_STREAMS - LIMITS.maxPendingStreamsPerPeer);
    const firstRefusal = await idle.find((s) => s.isEnded)!.ended();
    expect(grpc.status[firstRefusal.code]).toBe('RESOURCE_EXHAUSTED');
    expect(firstRefusal.details).toContain('awaiting authentication from this address');
    expect(await x.counter('accord_xds_refused_streams_total', { reason: 'peer_pending_streams' })).toBe(refused);

    // Another address is not affected; neither is a proxy that has been accepted already.
    const proxy = await legitimateProxy(x, x.clientIpv6(), 'legit');
    const idleStillOpen = idle.filter((s) => !s.isEnded).length;
    expect(idleStillOpen, 'the proxy connected while the idle streams held every pending place of their address').toBe(LIMITS.maxPendingStreamsPerPeer);

    // The idle streams that were admitted are ended once the deadline passes.
    const idleEnds = await Promise.all(idle.map((s) => s.ended(FIRST_REQUEST_TIMEOUT_MS + 15_000)));
    const timedOut = idleEnds.filter((end) => grpc.status[end.code] === 'DEADLINE_EXCEEDED');
    expect(timedOut).toHaveLength(LIMITS.maxPendingStreamsPerPeer);
    expect(timedOut[0]?.details).toContain('no DiscoveryRequest within');
    expect(await x.counter('accord_xds_refused_streams_total', { reason: 'first_request_timeout' })).toBe(LIMITS.maxPendingStreamsPerPeer);
    await eventually(() => (x.server.streamCounts().pending === 0 ? true : undefined), 10_000, 'no pending streams left');

    // The first address can connect again, and the legitimate proxy kept its stream throughout.
    await legitimateProxy(x, x.client(), 'legit-v4');
    x.set('legit', T.Cluster, [x.make.cluster('legit-c'), x.make.cluster('legit-c2')]);
    expect(names(x.codec, await proxy.next(10_000))).toEqual(['legit-c', 'legit-c2']);

    // Every refusal is counted, but logged with its reason at most about once a second.
    const refusalLines = log.lines.filter((line) => line.includes('refusing xDS stream'));
    expect(refusalLines.length).toBeGreaterThan(0);
    expect(refusalLines.length).toBeLessThan(100);
    expect(refusalLines[0]).toContain('"reason":"peer_pending_streams"');
    expect(log.lines.some((line) => line.includes('no first request in time'))).toBe(true);
  });

  it('streams whose first request is still being checked by the source count as pending', async () => {
    const x = h();
    const slowSource = (cache: SnapshotCache): ConfigSource => ({
      open: (context) => (context.node.id.startsWith('slow') ? new Promise(() => undefined) : cache.open(context)),
    });
    const server = await startXdsHarness({ limits: LIMITS, listenIpv6: true, source: slowSource, root: x.root });
    try {
      const client = server.client();
      const slow = Array.from({ length: LIMITS.maxPendingStreamsPerPeer + 5 }, (_, i) => {
        const s = client.sotw();
        s.send({ node: node(`slow-${i}`), type_url: T.Cluster, resource_names: [] });
        return s;
      });
      const ends = await eventually(() => {
        const ended = slow.filter((s) => s.isEnded);
        return ended.length >= 5 ? ended : undefined;
      }, 20_000);
      expect(grpc.status[(await ends[0]!.ended()).code]).toBe('RESOURCE_EXHAUSTED');
      expect(server.server.streamCounts().pending).toBe(LIMITS.maxPendingStreamsPerPeer);
      server.set('fine', T.Cluster, [server.make.cluster('fine-c')]);
      const fine = server.clientIpv6().sotw();
      fine.send({ node: node('fine'), type_url: T.Cluster, resource_names: [] });
      expect(names(server.codec, await fine.next(10_000))).toEqual(['fine-c']);
    } finally {
      await server.close();
    }
  });

  it('a storm over the global pending cap is paced, not refused: every stream is served in turn', async () => {
    const x = h();
    const storm = { ...LIMITS, maxPendingStreams: 4, maxPendingStreamsPerPeer: 50 };
    let inSetup = 0;
    let mostInSetup = 0;
    const pacedSource = (cache: SnapshotCache): ConfigSource => ({
      open: async (context) => {
        inSetup += 1;
        mostInSetup = Math.max(mostInSetup, inSetup);
        await new Promise((r) => setTimeout(r, 20));
        inSetup -= 1;
        return cache.open(context);
      },
    });
    const server = await startXdsHarness({ limits: storm, source: pacedSource, root: x.root });
    try {
      const client = server.client();
      const streams = Array.from({ length: 40 }, (_, i) => {
        server.set(`p${i}`, T.Cluster, [server.make.cluster(`p${i}-c`)]);
        const s = client.sotw();
        s.send({ node: node(`p${i}`), type_url: T.Cluster, resource_names: [] });
        return s;
      });
      const answers = await Promise.all(streams.map((s) => s.next(20_000)));
      expect(answers.map((res) => names(server.codec, res))).toEqual(streams.map((_, i) => [`p${i}-c`]));
      expect(mostInSetup).toBeLessThanOrEqual(storm.maxPendingStreams);
      expect(await server.counter('accord_xds_refused_streams_total')).toBe(0);
      expect(server.server.streamCounts()).toMatchObject({ open: 40, pending: 0, queued: 0 });
    } finally {
      await server.close();
    }
  });

  it('a workload gets at most maxStreamsPerWorkload streams; other workloads are unaffected', async () => {
    const x = h();
    const client = x.client();
    const open: SotwStream[] = [];
    for (let i = 0; i < LIMITS.maxStreamsPerWorkload; i++) open.push(await legitimateProxy(x, client, 'greedy'));
    const extra = client.sotw();
    extra.send({ node: node('greedy'), type_url: T.Cluster, resource_names: [] });
    const end = await extra.ended(10_000);
    expect(grpc.status[end.code]).toBe('RESOURCE_EXHAUSTED');
    expect(end.details).toContain('for this workload');
    expect(await x.counter('accord_xds_refused_streams_total', { reason: 'workload_streams' })).toBe(1);
    await legitimateProxy(x, client, 'modest');
    open[0]!.close();
    await eventually(async () => {
      const s = client.sotw();
      s.send({ node: node('greedy'), type_url: T.Cluster, resource_names: [] });
      const ok = await s.next(2_000).then(() => true, () => undefined);
      if (!ok) s.close();
      return ok;
    }, 15_000, 'room for the workload after one of its streams closed');
  });

  it('one address gets at most maxStreamsPerPeer accepted streams; another address still connects', async () => {
    const x = h();
    const client = x.client();
    for (let i = 0; i < LIMITS.maxStreamsPerPeer; i++) await legitimateProxy(x, client, `p${i}`);
    expect(x.server.streamCounts()).toEqual({ open: LIMITS.maxStreamsPerPeer, pending: 0, queued: 0 });
    const extra = x.client().sotw();
    const end = await extra.ended(10_000);
    expect(grpc.status[end.code]).toBe('RESOURCE_EXHAUSTED');
    expect(end.details).toContain('from this address (limit');
    await legitimateProxy(x, x.clientIpv6(), 'elsewhere');
  });
});
