// Checklist §4: client behaviour the server must tolerate, plus Delta variants of items 20 and 21.
import { describe, expect, it } from 'vitest';
import { ack } from '../../support/ads-client.js';
import { dnames, eventually, names, node, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('§4 client behaviour the server tolerates', () => {
  const h = useHarness();

  it('§4.1: node resent on a later request (same id) changes nothing', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    ack(s, await s.next());
    s.send({ node: node('n1', { client_features: ['envoy.lb.does_not_support_overprovisioning'] }), type_url: T.ClusterLoadAssignment, resource_names: ['c1'] });
    expect(names(codec, await s.nextOfType(T.ClusterLoadAssignment))).toEqual(['c1']);
    expect(s.isEnded).toBe(false);
  });

  it('§4.2: on reconnect EDS may come before CDS, with the last accepted version', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 2)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['c1'], version_info: 'accepted-from-another-replica' });
    s.send({ type_url: T.Cluster, resource_names: [], version_info: 'accepted-from-another-replica' });
    expect(names(codec, await s.nextOfType(T.ClusterLoadAssignment))).toEqual(['c1']);
    expect(names(codec, await s.nextOfType(T.Cluster))).toEqual(['c1']);
  });

  it('§4.3: EDS is answered without waiting for LDS or RDS', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['c1'] });
    expect(names(codec, await s.next())).toEqual(['c1']);
  });

  it('§4.4: coalesced ACKs — ACKing only the latest of several responses brings the type in sync', async () => {
    const { make, server } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    await s.next();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2)]);
    await s.next();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 3)]);
    const latest = await s.next();
    ack(s, latest);
    await s.expectNone();
    const status = server
      .proxies()
      .find((p) => p.nodeId === 'n1')
      ?.types.find((t) => t.typeUrl === T.ClusterLoadAssignment);
    expect(status?.ackedVersion).toBe(latest.version_info);
  });

  it('two streams of one node (Envoy hot restart) are served independently; closing one leaves the other', async () => {
    const { make, codec, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const old = h().client().sotw();
    const fresh = h().client().delta();
    old.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    fresh.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    ack(old, await old.next());
    const first = await fresh.next();
    fresh.send({ type_url: T.Cluster, response_nonce: first.nonce });
    expect(server.proxies().filter((p) => p.nodeId === 'n1')).toHaveLength(2);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    expect(names(codec, await old.next())).toEqual(['c1', 'c2']);
    expect(dnames(await fresh.next())).toEqual(['c2']);
    old.close();
    await eventually(() => (server.proxies().filter((p) => p.nodeId === 'n1').length === 1 ? true : undefined));
    h().set('n1', T.Cluster, [make.cluster('c2')]);
    expect((await fresh.next()).removed_resources).toEqual(['c1']);
  });

  it('§4.8: Delta — one subscribe request per EDS name, sent before any ACK, gets every name', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b'), make.cla('c')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['b'] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['c'] });
    const got = new Set<string>();
    while (got.size < 3) {
      const res = await s.next();
      for (const name of dnames(res)) got.add(name);
      s.send({ type_url: T.ClusterLoadAssignment, response_nonce: res.nonce });
    }
    expect([...got].sort()).toEqual(['a', 'b', 'c']);
  });

  it('§4.8: Delta — after reconnect, RDS names of removed listeners are answered as removed', async () => {
    h().set('n1', T.RouteConfiguration, []);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.RouteConfiguration, resource_names_subscribe: ['old-route'], initial_resource_versions: { 'old-route': 'v1' } });
    const res = await s.next();
    expect(res.removed_resources).toEqual(['old-route']);
  });
});

describe('Delta variants of ADS ordering', () => {
  const h = useHarness();

  it('20: Delta — a new cluster and a route using it, changed in one tick: CDS before RDS', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    s.send({ type_url: T.RouteConfiguration, resource_names_subscribe: ['r1'] });
    for (const type of [T.Cluster, T.RouteConfiguration]) {
      const res = await s.nextOfType(type);
      s.send({ type_url: type, response_nonce: res.nonce });
    }
    const before = s.received.length;
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c2')]);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    await s.nextOfType(T.RouteConfiguration);
    const order = s.received.slice(before).map((r) => r.type_url);
    expect(order.indexOf(T.Cluster)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(T.Cluster)).toBeLessThan(order.indexOf(T.RouteConfiguration));
  });

  it('21: Delta — after a cluster update, Envoy re-subscribing its EDS name gets the unchanged endpoints again', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['c1'] });
    for (const type of [T.Cluster, T.ClusterLoadAssignment]) {
      const res = await s.nextOfType(type);
      s.send({ type_url: type, response_nonce: res.nonce });
    }
    h().set('n1', T.Cluster, [make.cluster('c1', { connectTimeoutSeconds: 4 })]);
    const cds = await s.nextOfType(T.Cluster);
    s.send({ type_url: T.Cluster, response_nonce: cds.nonce });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_unsubscribe: ['c1'] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['c1'] });
    expect(dnames(await s.nextOfType(T.ClusterLoadAssignment))).toEqual(['c1']);
  });
});
