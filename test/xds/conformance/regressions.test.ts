// Checklist §3: bugs real control planes shipped, one regression test each.
import { describe, expect, it } from 'vitest';
import { ack, nack } from '../../support/ads-client.js';
import { dnames, eventually, names, node, QUIET_MS, subscriptionIs, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('§3 regressions', () => {
  const h = useHarness();

  it('GCP#962 / I#21111: SotW — repeated NACKs do not cause a resend loop', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    for (let i = 0; i < 3; i++) nack(s, res, '', `rejected ${i}`);
    await s.expectNone(QUIET_MS);
    expect(s.received.length).toBe(1);
  });

  it('GCP#962 / I#21111: Delta — repeated NACKs do not cause a resend loop', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const res = await s.next();
    for (let i = 0; i < 3; i++) s.send({ type_url: T.Cluster, response_nonce: res.nonce, error_detail: { code: 13, message: `rejected ${i}` } });
    await s.expectNone(QUIET_MS);
  });

  it('E#3355: an ACK of an older response does not count as the latest; the later ACK does', async () => {
    const { make, server } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const v1 = await s.next();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2)]);
    const v2 = await s.next();
    ack(s, v1);
    await s.expectNone(QUIET_MS);
    ack(s, v2);
    const status = await eventually(() =>
      server
        .proxies()
        .find((p) => p.nodeId === 'n1')
        ?.types.find((t) => t.typeUrl === T.ClusterLoadAssignment && t.ackedVersion === v2.version_info),
    );
    expect(status.lastNonce).toBe(v2.nonce);
    await s.expectNone(QUIET_MS);
  });

  it('E#10046: after the last EDS watch goes away, endpoint changes are not pushed', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const res = await s.next();
    ack(s, res, []);
    for (const r of await s.drain(QUIET_MS)) ack(s, r, []);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2)]);
    for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
  });

  it('GCP#245 / GCP#583 / E#13009: a cluster removed and re-added gets EDS again on re-request', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['c1'] });
    let cds = await s.nextOfType(T.Cluster);
    let eds = await s.nextOfType(T.ClusterLoadAssignment);
    ack(s, cds);
    ack(s, eds);
    // c1 goes away (Envoy drops its EDS watch), then comes back (Envoy watches it again).
    h().set('n1', T.Cluster, []);
    cds = await s.nextOfType(T.Cluster);
    ack(s, cds);
    for (const r of await s.drain(200)) if (r.type_url === T.ClusterLoadAssignment) eds = r;
    ack(s, eds, []);
    for (const r of await s.drain(200)) if (r.type_url === T.ClusterLoadAssignment) eds = r;
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    cds = await s.nextOfType(T.Cluster);
    ack(s, cds);
    ack(s, eds, ['c1']);
    const again = await s.nextOfType(T.ClusterLoadAssignment);
    expect(names(codec, again)).toEqual(['c1']);
  });

  it('GCP#426 / kuma#12098: ADS does not hold existing EDS names back while another is missing', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['c1', 'c2'] });
    const eds = await s.nextOfType(T.ClusterLoadAssignment);
    expect(names(codec, eds)).toEqual(['c1']);
  });

  it('GCP#431: SotW — unsubscribe then resubscribe resends', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    let last = await s.next();
    ack(s, last, ['b']);
    last = await s.next();
    expect(names(codec, last)).toEqual(['b']);
    ack(s, last, ['a', 'b']);
    expect(names(codec, await s.next())).toContain('a');
  });

  it('GCP#1450: Delta — unsubscribe then resubscribe resends', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await s.next();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, resource_names_unsubscribe: ['a'] });
    await s.drain(100);
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    expect(dnames(await s.next())).toEqual(['a']);
  });

  it('java-control-plane#339: an LDS update names every subscribed listener, not only the changed one', async () => {
    const { make, codec } = h();
    h().set('n1', T.Listener, [make.listener('l1', 'r1'), make.listener('l2', 'r2')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Listener, resource_names: ['l1', 'l2'] });
    const first = await s.next();
    ack(s, first);
    h().set('n1', T.Listener, [make.listener('l1', 'r1-new'), make.listener('l2', 'r2')]);
    expect(names(codec, await s.next())).toEqual(['l1', 'l2']);
  });

  it('GCP#1092: empty first EDS and RDS requests are not wildcards; a later named request works', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: [] });
    s.send({ type_url: T.RouteConfiguration, resource_names: [] });
    let latestEds;
    for (const r of await s.drain(QUIET_MS)) {
      expect(r.resources).toEqual([]);
      if (r.type_url === T.ClusterLoadAssignment) latestEds = r;
    }
    if (latestEds) ack(s, latestEds, ['b']);
    else s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['b'] });
    expect(names(codec, await s.nextOfType(T.ClusterLoadAssignment))).toEqual(['b']);
  });

  it('I#41494: Delta reconnect puts names that no longer exist into removed_resources', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'], initial_resource_versions: { c1: 'stale', deleted: 'v1' } });
    const res = await s.next();
    expect(dnames(res)).toEqual(['c1']);
    expect(res.removed_resources).toEqual(['deleted']);
  });

  it('GCP#565: Delta — a non-existent subscribed name is reported removed, then sent when created', async () => {
    const { make } = h();
    h().set('n1', T.RouteConfiguration, []);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.RouteConfiguration, resource_names_subscribe: ['r-missing'] });
    const res = await s.next();
    expect(res.removed_resources).toEqual(['r-missing']);
    s.send({ type_url: T.RouteConfiguration, response_nonce: res.nonce });
    h().set('n1', T.RouteConfiguration, [make.route('r-missing')]);
    expect(dnames(await s.next())).toEqual(['r-missing']);
  });

  it('GCP#473 / GCP#927: the first empty Delta wildcard request on CDS is answered', async () => {
    h().set('n1', T.Cluster, []);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster });
    const res = await s.next();
    expect(res.type_url).toBe(T.Cluster);
    expect(res.resources).toEqual([]);
  });

  it('GCP#1498: SotW — no stale response for a name after it was unsubscribed', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b'] });
    const first = await s.next();
    ack(s, first, ['b']);
    await subscriptionIs(h(), 'n1', T.ClusterLoadAssignment, ['b']);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    for (const r of await s.drain(QUIET_MS)) expect(names(codec, r)).not.toContain('a');
  });

  it('GCP#1498: Delta — no stale response for a name after it was unsubscribed', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'b'] });
    const first = await s.next();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, resource_names_unsubscribe: ['a'] });
    await subscriptionIs(h(), 'n1', T.ClusterLoadAssignment, ['b']);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    for (const r of await s.drain(QUIET_MS)) expect(dnames(r)).not.toContain('a');
  });

  it('GCP#1319: a missing named resource that the client keeps ACKing causes no response loop', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('present')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['missing'] });
    const deadline = Date.now() + 2 * QUIET_MS;
    while (Date.now() < deadline) {
      const r = await s.next(deadline - Date.now()).catch(() => undefined);
      if (!r) break;
      ack(s, r, ['missing']);
    }
    expect(s.received.length).toBeLessThanOrEqual(1);
  });

  it('Istio#27335: an empty RDS request after a named one is accepted and a later named request still works', async () => {
    const { make, codec } = h();
    h().set('n1', T.RouteConfiguration, [make.route('r1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.RouteConfiguration, resource_names: ['r1'] });
    let last = await s.next();
    ack(s, last, []);
    for (const r of await s.drain(QUIET_MS)) {
      expect(r.resources).toEqual([]);
      last = r;
    }
    expect(s.isEnded).toBe(false);
    ack(s, last, ['r1']);
    expect(names(codec, await s.next())).toEqual(['r1']);
  });

  it('E#30155 / E#15767: nonces are never reused across streams, and an old nonce on a new stream is processed', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const a = h().client().sotw();
    const b = h().client().sotw();
    a.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    b.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const [ra, rb] = await Promise.all([a.next(), b.next()]);
    expect(ra.nonce).not.toBe(rb.nonce);
    a.close();
    const c = h().client().sotw();
    c.send({ node: node('n1'), type_url: T.Cluster, resource_names: [], version_info: 'accepted-elsewhere', response_nonce: ra.nonce });
    const rc = await c.next();
    expect(names(codec, rc)).toEqual(['c1']);
    expect([ra.nonce, rb.nonce]).not.toContain(rc.nonce);
  });
});
