// Checklist §1.C: SotW subscriptions and wildcard.
import { describe, expect, it } from 'vitest';
import { ack } from '../../support/ads-client.js';
import { names, node, QUIET_MS, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('§1.C SotW subscriptions and wildcard', () => {
  const h = useHarness();

  it('13: a newly requested name is sent even though it is unchanged', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const first = await s.next();
    ack(s, first, ['a', 'b']);
    const second = await s.next();
    expect(names(codec, second)).toContain('b');
  });

  it('13: a name sent earlier unrequested (wildcard) is sent again when requested by name', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: ['*'] });
    const all = await s.next();
    expect(names(codec, all)).toEqual(['c1', 'c2']);
    ack(s, all, ['c1']);
    const only = await s.next();
    expect(names(codec, only)).toEqual(['c1']);
  });

  it('13: unsubscribe then resubscribe resends the resource', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b'] });
    const first = await s.next();
    expect(names(codec, first)).toEqual(['a', 'b']);
    ack(s, first, ['b']);
    // Dropping a name may or may not be answered; take whatever comes and ACK it.
    let latest = first;
    for (const r of await s.drain(QUIET_MS)) latest = r;
    ack(s, latest, ['a', 'b']);
    const again = await s.next();
    expect(names(codec, again)).toContain('a');
  });

  it('14: a name left out of the next request is unsubscribed', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b'] });
    const first = await s.next();
    ack(s, first, ['b']);
    let latest = first;
    for (const r of await s.drain(QUIET_MS)) latest = r;
    ack(s, latest, ['b']);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    await s.expectNone(QUIET_MS);
  });

  it('14: an empty list after explicit names means nothing, not wildcard', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: ['c1'] });
    const first = await s.next();
    expect(names(codec, first)).toEqual(['c1']);
    ack(s, first, []);
    for (const r of await s.drain(QUIET_MS)) {
      expect(r.resources).toEqual([]);
      ack(s, r, []);
    }
    h().set('n1', T.Cluster, [make.cluster('c1', { connectTimeoutSeconds: 9 }), make.cluster('c2'), make.cluster('c3')]);
    for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
  });

  it('15: "*" on CDS returns every cluster', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: ['*'] });
    expect(names(codec, await s.next())).toEqual(['c1', 'c2']);
  });

  it('15: legacy wildcard (empty names on every request so far) on LDS returns every listener', async () => {
    const { make, codec } = h();
    h().set('n1', T.Listener, [make.listener('l1'), make.listener('l2')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Listener });
    const first = await s.next();
    expect(names(codec, first)).toEqual(['l1', 'l2']);
    ack(s, first);
    h().set('n1', T.Listener, [make.listener('l1'), make.listener('l2'), make.listener('l3')]);
    expect(names(codec, await s.next())).toEqual(['l1', 'l2', 'l3']);
  });

  it('15: "*" plus names is the union; dropping "*" leaves just the names', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2'), make.cluster('c3')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: ['*', 'c1'] });
    const all = await s.next();
    expect(names(codec, all)).toEqual(['c1', 'c2', 'c3']);
    ack(s, all, ['c1', 'c3']);
    const some = await s.next();
    expect(names(codec, some)).toEqual(['c1', 'c3']);
    ack(s, some, ['c1', 'c3']);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2', { connectTimeoutSeconds: 3 }), make.cluster('c3'), make.cluster('c4')]);
    await s.expectNone(QUIET_MS);
  });

  for (const [label, type, make] of [
    ['RDS', T.RouteConfiguration, 'route'],
    ['EDS', T.ClusterLoadAssignment, 'cla'],
    ['SDS', T.Secret, 'secret'],
  ] as const) {
    it(`15: an empty first request for ${label} does not return everything`, async () => {
      const f = h().make;
      h().set('n1', type, [f[make]('x1'), f[make]('x2')]);
      const s = h().client().sotw();
      s.send({ node: node('n1'), type_url: type, resource_names: [] });
      for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
    });
  }
});
