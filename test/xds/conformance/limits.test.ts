// Limits and bad input: the offending stream is ended with a clear status; the server survives
// and other streams keep working.
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ack, type SotwStream } from '../../support/ads-client.js';
import { eventually, names, node, TypeUrl, useHarness } from '../../support/conformance.js';
import type { XdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;
const MAX_NAMES = 10;
const MAX_BYTES = 64 * 1024;
const MAX_STREAMS = 4;

/** A healthy stream opened before the bad input, to show the server still serves it afterwards. */
async function bystander(x: XdsHarness): Promise<SotwStream> {
  x.set('ok', T.Cluster, [x.make.cluster('c1')]);
  const s = x.client().sotw();
  s.send({ node: node('ok'), type_url: T.Cluster, resource_names: [] });
  ack(s, await s.next());
  return s;
}

async function stillServes(x: XdsHarness, s: SotwStream): Promise<void> {
  x.set('ok', T.Cluster, [x.make.cluster('c1'), x.make.cluster('c2')]);
  expect(names(x.codec, await s.next())).toEqual(['c1', 'c2']);
  const fresh = x.client().sotw();
  fresh.send({ node: node('ok'), type_url: T.Cluster, resource_names: [] });
  expect(names(x.codec, await fresh.next())).toEqual(['c1', 'c2']);
  fresh.close();
}

describe('limits and bad input', () => {
  const h = useHarness({ limits: { maxResourceNamesPerRequest: MAX_NAMES, maxReceiveMessageBytes: MAX_BYTES, maxStreams: MAX_STREAMS } });

  it('SotW: empty type_url on ADS is INVALID_ARGUMENT, and other streams keep working', async () => {
    const ok = await bystander(h());
    const bad = h().client().sotw();
    bad.send({ node: node('bad'), resource_names: ['x'] });
    expect(grpc.status[(await bad.ended()).code]).toBe('INVALID_ARGUMENT');
    await stillServes(h(), ok);
  });

  it('Delta: empty type_url on ADS is INVALID_ARGUMENT, and other streams keep working', async () => {
    const ok = await bystander(h());
    const bad = h().client().delta();
    bad.send({ node: node('bad') });
    expect(grpc.status[(await bad.ended()).code]).toBe('INVALID_ARGUMENT');
    await stillServes(h(), ok);
  });

  it('SotW: more resource names than allowed is INVALID_ARGUMENT naming the limit', async () => {
    const ok = await bystander(h());
    const bad = h().client().sotw();
    bad.send({ node: node('bad'), type_url: T.ClusterLoadAssignment, resource_names: Array.from({ length: MAX_NAMES + 1 }, (_, i) => `n${i}`) });
    const end = await bad.ended();
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
    expect(end.details).toMatch(/resource_names|names/);
    await stillServes(h(), ok);
  });

  it('SotW: exactly the allowed number of names is accepted', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('n0')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: Array.from({ length: MAX_NAMES }, (_, i) => `n${i}`) });
    expect(names(h().codec, await s.next())).toEqual(['n0']);
  });

  it('Delta: more subscribe names than allowed is INVALID_ARGUMENT', async () => {
    const ok = await bystander(h());
    const bad = h().client().delta();
    bad.send({ node: node('bad'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: Array.from({ length: MAX_NAMES + 1 }, (_, i) => `n${i}`) });
    expect(grpc.status[(await bad.ended()).code]).toBe('INVALID_ARGUMENT');
    await stillServes(h(), ok);
  });

  it('an oversize request message is refused with RESOURCE_EXHAUSTED', async () => {
    const ok = await bystander(h());
    const bad = h().client().sotw();
    bad.send({ node: node('bad'), type_url: T.ClusterLoadAssignment, resource_names: ['x'.repeat(MAX_BYTES + 1024)] });
    expect(grpc.status[(await bad.ended()).code]).toBe('RESOURCE_EXHAUSTED');
    await stillServes(h(), ok);
  });

  it('bytes that are not a DiscoveryRequest end the stream with an error', async () => {
    const ok = await bystander(h());
    const bad = h().client().sotw();
    bad.sendRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]));
    const end = await bad.ended();
    expect(['INVALID_ARGUMENT', 'INTERNAL']).toContain(grpc.status[end.code]);
    await stillServes(h(), ok);
  });

  it('a Delta stream whose initial_resource_versions is huge in count is refused like too many names', async () => {
    const ok = await bystander(h());
    const bad = h().client().delta();
    const versions: Record<string, string> = {};
    for (let i = 0; i <= MAX_NAMES; i++) versions[`n${i}`] = 'v';
    bad.send({ node: node('bad'), type_url: T.Cluster, resource_names_subscribe: ['*'], initial_resource_versions: versions });
    expect(grpc.status[(await bad.ended()).code]).toBe('INVALID_ARGUMENT');
    await stillServes(h(), ok);
  });

  it('SotW and Delta: a first request without node is INVALID_ARGUMENT naming the field', async () => {
    const ok = await bystander(h());
    const sotw = h().client().sotw();
    sotw.send({ type_url: T.Cluster, resource_names: [] });
    const delta = h().client().delta();
    delta.send({ type_url: T.Cluster, resource_names_subscribe: ['*'] });
    for (const end of [await sotw.ended(), await delta.ended()]) {
      expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
      expect(end.details).toContain('node');
    }
    const noId = h().client().sotw();
    noId.send({ node: { cluster: 'x' }, type_url: T.Cluster, resource_names: [] });
    const end = await noId.ended();
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
    expect(end.details).toContain('node.id');
    await stillServes(h(), ok);
  });

  it('a stream asking for an unbounded number of distinct type URLs is ended with INVALID_ARGUMENT', async () => {
    const ok = await bystander(h());
    const bad = h().client().sotw();
    bad.send({ node: node('bad'), type_url: T.Cluster, resource_names: [] });
    for (let i = 0; i < 200 && !bad.isEnded; i++) bad.send({ type_url: `type.googleapis.com/accord.test.T${i}`, resource_names: ['x'] });
    const end = await bad.ended();
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
    expect(end.details).toContain('type_url');
    await stillServes(h(), ok);
  });

  it('Delta: an oversize request message is refused with RESOURCE_EXHAUSTED', async () => {
    const ok = await bystander(h());
    const bad = h().client().delta();
    bad.send({ node: node('bad'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['x'.repeat(MAX_BYTES + 1024)] });
    expect(grpc.status[(await bad.ended()).code]).toBe('RESOURCE_EXHAUSTED');
    await stillServes(h(), ok);
  });

  it('streams beyond maxStreams are refused; closing one makes room', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const open: SotwStream[] = [];
    for (let i = 0; i < MAX_STREAMS; i++) {
      const s = h().client().sotw();
      s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
      await s.next();
      open.push(s);
    }
    const extra = h().client().sotw();
    extra.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const end = await extra.ended();
    expect(['RESOURCE_EXHAUSTED', 'UNAVAILABLE']).toContain(grpc.status[end.code]);
    open[0].close();
    await eventually(() => (h().server.proxies().length < MAX_STREAMS ? true : undefined));
    const again = h().client().sotw();
    again.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    expect(names(codec, await again.next())).toEqual(['c1']);
  });

  it('a client that disappears mid-stream is forgotten', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const client = h().client();
    const s = client.sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    await s.next();
    expect(h().server.proxies().map((p) => p.nodeId)).toContain('n1');
    client.close();
    await eventually(() => (h().server.proxies().length === 0 ? true : undefined));
  });
});
