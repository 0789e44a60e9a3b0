// Checklist §1.D: SotW response contents and deletion.
import { describe, expect, it } from 'vitest';
import { ack } from '../../support/ads-client.js';
import { names, node, QUIET_MS, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('§1.D SotW response contents and deletion', () => {
  const h = useHarness();

  for (const [label, type] of [
    ['CDS', T.Cluster],
    ['LDS', T.Listener],
  ] as const) {
    const build = (name: string, variant: number) =>
      type === T.Cluster ? h().make.cluster(name, { connectTimeoutSeconds: variant }) : h().make.listener(name, `route-${variant}`);

    it(`16: ${label} responses are full state: an update to one resource carries every subscribed resource`, async () => {
      const { codec } = h();
      h().set('n1', type, [build('x1', 1), build('x2', 1)]);
      const s = h().client().sotw();
      s.send({ node: node('n1'), type_url: type, resource_names: ['*'] });
      const first = await s.next();
      ack(s, first);
      h().set('n1', type, [build('x1', 1), build('x2', 2)]);
      const second = await s.next();
      expect(names(codec, second)).toEqual(['x1', 'x2']);
      ack(s, second);
      // Deletion: the missing one is gone; deleting all sends an empty list.
      h().set('n1', type, [build('x1', 1)]);
      const third = await s.next();
      expect(names(codec, third)).toEqual(['x1']);
      ack(s, third);
      h().set('n1', type, []);
      const fourth = await s.next();
      expect(fourth.resources).toEqual([]);
      expect(fourth.version_info).not.toBe(third.version_info);
    });

    it(`16: ${label} is not sent (not even empty) before the node config is ready`, async () => {
      const { codec } = h();
      const s = h().client().sotw();
      s.send({ node: node('n1'), type_url: type, resource_names: ['*'] });
      await s.expectNone(QUIET_MS);
      h().set('n1', type, [build('x1', 1)]);
      expect(names(codec, await s.next())).toEqual(['x1']);
    });
  }

  it('16: a node whose config becomes not ready again (clearNode) is not sent an empty LDS/CDS', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.Listener, [make.listener('l1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ type_url: T.Listener, resource_names: [] });
    ack(s, await s.nextOfType(T.Cluster));
    ack(s, await s.nextOfType(T.Listener));
    h().cache.clearNode('n1');
    await s.expectNone(QUIET_MS);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    expect(names(codec, await s.nextOfType(T.Cluster))).toEqual(['c1', 'c2']);
  });

  it('16: Delta — a node whose config becomes not ready again is not told that everything was removed', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const first = await s.next();
    s.send({ type_url: T.Cluster, response_nonce: first.nonce });
    h().cache.clearNode('n1');
    await s.expectNone(QUIET_MS);
  });

  it('17: EDS responses carry only requested names, and may carry only the changed ones', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1), make.cla('c', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b'] });
    const first = await s.next();
    expect(names(codec, first)).toEqual(['a', 'b']);
    ack(s, first);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1), make.cla('c', 2)]);
    const second = await s.next();
    const got = names(codec, second);
    expect(got).toContain('a');
    for (const n of got) expect(['a', 'b']).toContain(n);
  });

  it('17: RDS responses carry only requested names', async () => {
    const { make, codec } = h();
    h().set('n1', T.RouteConfiguration, [make.route('r1'), make.route('r2'), make.route('r3')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.RouteConfiguration, resource_names: ['r2'] });
    expect(names(codec, await s.next())).toEqual(['r2']);
  });

  it('18: a missing requested name does not hold back existing ones, and is sent when it appears', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'later'] });
    const first = await s.next();
    expect(names(codec, first)).toEqual(['a']);
    ack(s, first);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('later')]);
    const second = await s.next();
    expect(names(codec, second)).toContain('later');
  });

  it('18: a cluster with no endpoints is delivered as an empty ClusterLoadAssignment', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('empty', [])]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['empty'] });
    const res = await s.next();
    expect(res.resources.length).toBe(1);
    const cla = codec.decodeAny(res.resources[0]);
    expect(cla.cluster_name).toBe('empty');
    expect(cla.endpoints).toEqual([]);
  });

  it('19: a type the client is not watching is never pushed', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const cds = await s.next();
    ack(s, cds);
    h().set('n1', T.Listener, [make.listener('l1')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    h().set('n1', T.Secret, [make.secret('s1')]);
    await s.expectNone(QUIET_MS);
  });

  it('19: Delta — a type the client is not watching is never pushed', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const cds = await s.next();
    s.send({ type_url: T.Cluster, response_nonce: cds.nonce });
    h().set('n1', T.Listener, [make.listener('l1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    await s.expectNone(QUIET_MS);
  });
});
