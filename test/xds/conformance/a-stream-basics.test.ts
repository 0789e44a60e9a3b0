// Checklist §1.A: stream basics, for both SotW and Delta.
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { ack, nack } from '../../support/ads-client.js';
import { dnames, names, node, TypeUrl, useHarness, eventually } from '../../support/conformance.js';

const T = TypeUrl;

describe('§1.A stream basics', () => {
  const h = useHarness();

  it('1: SotW — node from the first request is kept; a later EDS request without node gets that node config', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 1001)]);
    h().set('n2', T.ClusterLoadAssignment, [make.cla('c1', 2002)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const cds = await s.nextOfType(T.Cluster);
    expect(names(codec, cds)).toEqual(['c1']);
    ack(s, cds);
    s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['c1'] });
    const eds = await s.nextOfType(T.ClusterLoadAssignment);
    expect(names(codec, eds)).toEqual(['c1']);
    expect(JSON.stringify(codec.decodeAny(eds.resources[0]))).toContain('1001');
  });

  it('1: Delta — node from the first request is kept; a later EDS request without node gets that node config', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 1001)]);
    h().set('n2', T.ClusterLoadAssignment, [make.cla('c1', 2002)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const cds = await s.nextOfType(T.Cluster);
    expect(dnames(cds)).toEqual(['c1']);
    s.send({ type_url: T.Cluster, response_nonce: cds.nonce });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['c1'] });
    const eds = await s.nextOfType(T.ClusterLoadAssignment);
    expect(dnames(eds)).toEqual(['c1']);
    const resource = eds.resources[0].resource;
    expect(resource).toBeDefined();
    if (resource) expect(JSON.stringify(codec.decodeAny(resource))).toContain('1001');
  });

  it('2: SotW — empty type_url on ADS ends the stream with INVALID_ARGUMENT', async () => {
    const s = h().client().sotw();
    s.send({ node: node('n1'), resource_names: ['c1'] });
    const end = await s.ended();
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
  });

  it('2: Delta — empty type_url on ADS ends the stream with INVALID_ARGUMENT', async () => {
    const s = h().client().delta();
    s.send({ node: node('n1'), resource_names_subscribe: ['c1'] });
    const end = await s.ended();
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
  });

  it('2: SotW — empty type_url on a per-type service means that service type', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw('cds');
    s.send({ node: node('n1'), resource_names: [] });
    const res = await s.next();
    expect(res.type_url).toBe(T.Cluster);
    expect(names(codec, res)).toEqual(['c1']);
  });

  it('2: Delta — empty type_url on a per-type service means that service type', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    const s = h().client().delta('eds');
    s.send({ node: node('n1'), resource_names_subscribe: ['c1'] });
    const res = await s.next();
    expect(res.type_url).toBe(T.ClusterLoadAssignment);
    expect(dnames(res)).toEqual(['c1']);
  });

  it('3: SotW — each type is its own sub-stream: a Route NACK does not affect Cluster ACK or updates', async () => {
    const { make, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ type_url: T.RouteConfiguration, resource_names: ['r1'] });
    const cds = await s.nextOfType(T.Cluster);
    const rds = await s.nextOfType(T.RouteConfiguration);
    expect(cds.nonce).not.toBe(rds.nonce);
    nack(s, rds, '', 'route rejected');
    ack(s, cds);
    const status = await eventually(() => {
      const p = server.proxies().find((x) => x.nodeId === 'n1');
      const c = p?.types.find((t) => t.typeUrl === T.Cluster);
      const r = p?.types.find((t) => t.typeUrl === T.RouteConfiguration);
      return c?.ackedVersion === cds.version_info && r?.lastNack ? { c, r } : undefined;
    });
    expect(status.c.lastNack).toBeUndefined();
    expect(status.r.lastNack?.errorDetail).toContain('route rejected');
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const cds2 = await s.nextOfType(T.Cluster);
    expect(names(h().codec, cds2)).toEqual(['c1', 'c2']);
    await s.expectNoneOfType(T.RouteConfiguration);
  });

  it('3: Delta — each type is its own sub-stream: a Route NACK does not affect Cluster ACK or updates', async () => {
    const { make, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    s.send({ type_url: T.RouteConfiguration, resource_names_subscribe: ['r1'] });
    const cds = await s.nextOfType(T.Cluster);
    const rds = await s.nextOfType(T.RouteConfiguration);
    s.send({ type_url: T.RouteConfiguration, response_nonce: rds.nonce, error_detail: { code: 13, message: 'route rejected' } });
    s.send({ type_url: T.Cluster, response_nonce: cds.nonce });
    const status = await eventually(() => {
      const p = server.proxies().find((x) => x.nodeId === 'n1');
      const c = p?.types.find((t) => t.typeUrl === T.Cluster);
      const r = p?.types.find((t) => t.typeUrl === T.RouteConfiguration);
      return c?.resources.every((x) => x.status === 'ACKED') && r?.lastNack ? { c, r } : undefined;
    });
    expect(status.c.mode).toBe('delta');
    expect(status.r.lastNack?.errorDetail).toContain('route rejected');
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const cds2 = await s.nextOfType(T.Cluster);
    expect(dnames(cds2)).toEqual(['c2']);
    await s.expectNoneOfType(T.RouteConfiguration);
  });

  const everyType = [
    { type: T.Listener, name: 'l1' },
    { type: T.RouteConfiguration, name: 'r1' },
    { type: T.Cluster, name: 'c1' },
    { type: T.ClusterLoadAssignment, name: 'c1' },
    { type: T.Secret, name: 's1' },
  ];

  function seedEveryType(): void {
    const { make } = h();
    h().set('n1', T.Listener, [make.listener('l1', 'r1')]);
    h().set('n1', T.RouteConfiguration, [make.route('r1', 'c1')]);
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1')]);
    h().set('n1', T.Secret, [make.secret('s1')]);
  }

  it('4: SotW — response type_url and every Any.type_url equal the requested type, for every type', async () => {
    seedEveryType();
    const s = h().client().sotw();
    let first = true;
    for (const { type, name } of everyType) {
      s.send({ ...(first ? { node: node('n1') } : {}), type_url: type, resource_names: [name] });
      first = false;
      const res = await s.nextOfType(type);
      expect(res.type_url).toBe(type);
      expect(res.resources.length).toBe(1);
      for (const any of res.resources) expect(any.type_url).toBe(type);
    }
  });

  it('4: Delta — response type_url and every Resource Any.type_url equal the requested type, for every type', async () => {
    seedEveryType();
    const s = h().client().delta();
    let first = true;
    for (const { type, name } of everyType) {
      s.send({ ...(first ? { node: node('n1') } : {}), type_url: type, resource_names_subscribe: [name] });
      first = false;
      const res = await s.nextOfType(type);
      expect(res.type_url).toBe(type);
      expect(res.resources.length).toBe(1);
      for (const r of res.resources) expect(r.resource?.type_url).toBe(type);
    }
  });

  it('5: SotW — duplicate requested names give each resource once', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'a', 'b', 'b'] });
    const res = await s.next();
    expect(names(codec, res)).toEqual(['a', 'b']);
  });

  it('5: Delta — duplicate names are sent once, and never in both resources and removed_resources', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'a', 'b'] });
    const first = await s.next();
    expect(dnames(first)).toEqual(['a', 'b']);
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce });
    // Remove `a`, then bring it back changed, in the same tick.
    h().set('n1', T.ClusterLoadAssignment, [make.cla('b')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 7007), make.cla('b')]);
    const responses = await s.drain(500);
    expect(responses.length).toBeGreaterThan(0);
    for (const res of responses) {
      const sent = new Set(dnames(res));
      expect(new Set(dnames(res)).size).toBe(res.resources.length);
      for (const removed of res.removed_resources) expect(sent.has(removed)).toBe(false);
    }
    const last = responses.at(-1);
    expect(last && dnames(last)).toContain('a');
  });
});
