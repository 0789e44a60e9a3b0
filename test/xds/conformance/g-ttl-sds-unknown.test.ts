// Checklist §1.G (TTL), §1.H (SDS) and §1.I (unknown type_url).
import { describe, expect, it } from 'vitest';
import { ack } from '../../support/ads-client.js';
import { dnames, names, node, QUIET_MS, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('§1.G TTL', () => {
  const h = useHarness();

  // The cache carries no TTLs, so the only rule that applies is the negative one: a client that
  // did not announce TTL support never sees TTLs or `Resource` wrappers.
  it('33: SotW — without xds.config.supports-resource-ttl resources are plain, never wrapped in Resource', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    for (const any of res.resources) expect(any.type_url).toBe(T.Cluster);
  });

  it('33: Delta — without xds.config.supports-resource-ttl no Resource carries a ttl', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const res = await s.next();
    for (const r of res.resources) expect(r.ttl ?? null).toBeNull();
  });
});

describe('§1.H SDS', () => {
  const h = useHarness();

  it('34: SotW — SDS returns exactly the one requested secret, never others', async () => {
    const { make, codec } = h();
    h().set('n1', T.Secret, [make.secret('s1'), make.secret('s2')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: ['s1'] });
    const res = await s.next();
    expect(names(codec, res)).toEqual(['s1']);
    ack(s, res);
    h().set('n1', T.Secret, [make.secret('s1'), make.secret('s2', 'v2')]);
    await s.expectNone(QUIET_MS);
  });

  it('34: SotW — an empty SDS request is not a wildcard', async () => {
    const { make } = h();
    h().set('n1', T.Secret, [make.secret('s1'), make.secret('s2')]);
    const s = h().client().sotw('sds');
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: [] });
    for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
  });

  it('34: SotW — an empty SDS request after a subscription unsubscribes', async () => {
    const { make } = h();
    h().set('n1', T.Secret, [make.secret('s1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: ['s1'] });
    const res = await s.next();
    ack(s, res, []);
    for (const r of await s.drain(QUIET_MS)) {
      expect(r.resources).toEqual([]);
      ack(s, r, []);
    }
    h().set('n1', T.Secret, [make.secret('s1', 'rotated')]);
    for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
  });

  it('34: Delta — SDS sends only subscribed secrets, and a rotated secret is pushed alone', async () => {
    const { make } = h();
    h().set('n1', T.Secret, [make.secret('s1'), make.secret('s2')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names_subscribe: ['s2'] });
    const res = await s.next();
    expect(dnames(res)).toEqual(['s2']);
    s.send({ type_url: T.Secret, response_nonce: res.nonce });
    h().set('n1', T.Secret, [make.secret('s1', 'rotated'), make.secret('s2', 'rotated')]);
    const rotated = await s.next();
    expect(dnames(rotated)).toEqual(['s2']);
  });

  it('34: Delta — an empty first SDS request is not a wildcard', async () => {
    const { make } = h();
    h().set('n1', T.Secret, [make.secret('s1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Secret });
    for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
  });
});

describe('§1.I unknown type_url', () => {
  const h = useHarness();
  const UNKNOWN = 'type.googleapis.com/accord.test.NoSuchType';

  it('35: SotW — an unknown type is held (no response, stream open) and other types keep working', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: UNKNOWN, resource_names: ['x'] });
    await s.expectNone(QUIET_MS);
    expect(s.isEnded).toBe(false);
    s.send({ type_url: T.Cluster, resource_names: [] });
    expect(names(codec, await s.next())).toEqual(['c1']);
  });

  it('35: Delta — an unknown type is held (no resources) and other types keep working', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: UNKNOWN, resource_names_subscribe: ['x'] });
    for (const r of await s.drain(QUIET_MS)) expect(r.resources).toEqual([]);
    expect(s.isEnded).toBe(false);
    s.send({ type_url: T.Cluster, resource_names_subscribe: ['*'] });
    expect(dnames(await s.nextOfType(T.Cluster))).toEqual(['c1']);
  });
});
