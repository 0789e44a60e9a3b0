// Checklist §1.E: ADS ordering (make-before-break) and cluster warming.
import { describe, expect, it } from 'vitest';
import { ack, type DiscoveryResponse, type SotwStream } from '../../support/ads-client.js';
import { names, node, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('§1.E ADS ordering and warming', () => {
  const h = useHarness();

  /** Opens an ADS stream subscribed to CDS (wildcard), EDS [c1], LDS (wildcard), RDS [r1], all ACKed. */
  async function subscribedStream(): Promise<{ s: SotwStream; latest: Map<string, DiscoveryResponse> }> {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 1)]);
    h().set('n1', T.Listener, [make.listener('l1', 'r1')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['c1'] });
    s.send({ type_url: T.Listener, resource_names: [] });
    s.send({ type_url: T.RouteConfiguration, resource_names: ['r1'] });
    const latest = new Map<string, DiscoveryResponse>();
    for (const type of [T.Cluster, T.ClusterLoadAssignment, T.Listener, T.RouteConfiguration]) {
      const res = await s.nextOfType(type);
      latest.set(type, res);
      ack(s, res);
    }
    // Absorb any warming resend so the test starts from a quiet stream.
    for (const res of await s.drain(200)) {
      latest.set(res.type_url, res);
      ack(s, res);
    }
    return { s, latest };
  }

  it('20: a new cluster and a route using it, changed in one tick: the CDS response comes before the RDS response', async () => {
    const { make, codec } = h();
    const { s } = await subscribedStream();
    const before = s.received.length;
    // Route first on purpose: the server, not the caller, must order the pushes.
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c2')]);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const rds = await s.nextOfType(T.RouteConfiguration);
    const received = s.received.slice(before);
    const order = received.map((r) => r.type_url);
    const cdsAt = order.indexOf(T.Cluster);
    const rdsAt = order.indexOf(T.RouteConfiguration);
    expect(cdsAt).toBeGreaterThanOrEqual(0);
    expect(cdsAt).toBeLessThan(rdsAt);
    const cds = received[cdsAt];
    expect(names(codec, cds)).toEqual(['c1', 'c2']);
    expect(names(codec, rds)).toEqual(['r1']);
  });

  it('20: a cluster and its endpoints changed in one tick: CDS is sent before EDS', async () => {
    const { make } = h();
    const { s } = await subscribedStream();
    const before = s.received.length;
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 2)]);
    h().set('n1', T.Cluster, [make.cluster('c1', { connectTimeoutSeconds: 2 })]);
    await s.nextOfType(T.ClusterLoadAssignment);
    const order = s.received.slice(before).map((r) => r.type_url);
    expect(order.indexOf(T.Cluster)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(T.Cluster)).toBeLessThan(order.indexOf(T.ClusterLoadAssignment));
  });

  it('20: a new listener and its route in one tick: LDS is sent before RDS', async () => {
    const { make } = h();
    const { s } = await subscribedStream();
    const before = s.received.length;
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c1', ['changed'])]);
    h().set('n1', T.Listener, [make.listener('l1', 'r1'), make.listener('l2', 'r1')]);
    await s.nextOfType(T.RouteConfiguration);
    const order = s.received.slice(before).map((r) => r.type_url);
    expect(order.indexOf(T.Listener)).toBeGreaterThanOrEqual(0);
    expect(order.indexOf(T.Listener)).toBeLessThan(order.indexOf(T.RouteConfiguration));
  });

  it('20: a cluster replaced in one tick: the new one is added first, the old one removed only after the route moved', async () => {
    const { make, codec } = h();
    const { s } = await subscribedStream();
    const before = s.received.length;
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c2')]);
    h().set('n1', T.Cluster, [make.cluster('c2')]);
    // ACK everything so the server can finish the push.
    const deadline = Date.now() + 5000;
    for (;;) {
      const cdsResponses = s.received.slice(before).filter((r) => r.type_url === T.Cluster);
      if (cdsResponses.some((r) => names(codec, r).join() === 'c2')) break;
      if (Date.now() > deadline) throw new Error('no CDS response without c1 within 5 s');
      const res = await s.next();
      ack(s, res);
    }
    const after = s.received.slice(before);
    const order = after.map((r) => r.type_url);
    const firstCds = after.find((r) => r.type_url === T.Cluster);
    expect(firstCds && names(codec, firstCds)).toContain('c2');
    const rdsAt = order.indexOf(T.RouteConfiguration);
    const removalAt = after.findIndex((r) => r.type_url === T.Cluster && !names(codec, r).includes('c1'));
    expect(order.indexOf(T.Cluster)).toBeLessThan(rdsAt);
    expect(rdsAt).toBeLessThan(removalAt);
  });

  it('21: after a CDS update of a cluster, EDS for it is sent again even though its endpoints did not change', async () => {
    const { make, codec } = h();
    const { s, latest } = await subscribedStream();
    h().set('n1', T.Cluster, [make.cluster('c1', { connectTimeoutSeconds: 5 })]);
    const cds = await s.nextOfType(T.Cluster);
    ack(s, cds);
    // Envoy re-requests EDS for the re-created cluster with the same names and latest nonce, which
    // looks exactly like a duplicate ACK; the server must answer it (or have pushed EDS already).
    const lastEds = latest.get(T.ClusterLoadAssignment);
    if (!lastEds) throw new Error('no EDS response during setup');
    ack(s, lastEds, ['c1']);
    const eds = await s.nextOfType(T.ClusterLoadAssignment);
    expect(names(codec, eds)).toEqual(['c1']);
  });
});
