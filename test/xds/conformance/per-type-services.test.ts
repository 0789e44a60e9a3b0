// Per-type services: LDS, RDS, CDS, EDS and SDS, each with Stream, Delta and Fetch.
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import type { EncodedResource } from '../../../src/xds/contract.js';
import { ack } from '../../support/ads-client.js';
import { dnames, names, node, QUIET_MS, TypeUrl, useHarness } from '../../support/conformance.js';
import type { ResourceFactory } from '../../support/resources.js';

const T = TypeUrl;

const services = [
  { service: 'lds', type: T.Listener, wildcard: true, build: (f: ResourceFactory, n: string, v: number) => f.listener(n, `route-${v}`) },
  { service: 'rds', type: T.RouteConfiguration, wildcard: false, build: (f: ResourceFactory, n: string, v: number) => f.route(n, `cluster-${v}`) },
  { service: 'cds', type: T.Cluster, wildcard: true, build: (f: ResourceFactory, n: string, v: number) => f.cluster(n, { connectTimeoutSeconds: v }) },
  { service: 'eds', type: T.ClusterLoadAssignment, wildcard: false, build: (f: ResourceFactory, n: string, v: number) => f.cla(n, v) },
  { service: 'sds', type: T.Secret, wildcard: false, build: (f: ResourceFactory, n: string, v: number) => f.secret(n, `v${v}`) },
] as const;

describe('per-type services', () => {
  const h = useHarness();

  for (const { service, type, wildcard, build } of services) {
    const seed = (v = 1): EncodedResource[] => {
      const list = [build(h().make, 'x1', v), build(h().make, 'x2', 1)];
      h().set('n1', type, list);
      return list;
    };

    it(`${service.toUpperCase()} Stream: serves its type, ACK holds, updates are pushed`, async () => {
      seed();
      const s = h().client().sotw(service);
      s.send({ node: node('n1'), type_url: type, resource_names: wildcard ? [] : ['x1', 'x2'] });
      const first = await s.next();
      expect(first.type_url).toBe(type);
      expect(names(h().codec, first)).toEqual(['x1', 'x2']);
      ack(s, first);
      await s.expectNone(QUIET_MS);
      seed(2);
      const second = await s.next();
      expect(names(h().codec, second)).toContain('x1');
      expect(second.version_info).not.toBe(first.version_info);
    });

    it(`${service.toUpperCase()} Delta: serves its type and pushes only the changed resource`, async () => {
      seed();
      const s = h().client().delta(service);
      s.send({ node: node('n1'), type_url: type, resource_names_subscribe: wildcard ? ['*'] : ['x1', 'x2'] });
      const first = await s.next();
      expect(first.type_url).toBe(type);
      expect(dnames(first)).toEqual(['x1', 'x2']);
      s.send({ type_url: type, response_nonce: first.nonce });
      seed(2);
      expect(dnames(await s.next())).toEqual(['x1']);
    });

    it(`${service.toUpperCase()} Fetch: returns the requested resources once`, async () => {
      seed();
      const res = await h().client().fetch(service, { node: node('n1'), type_url: type, resource_names: ['x2'] });
      expect(res.type_url).toBe(type);
      expect(names(h().codec, res)).toEqual(['x2']);
      expect(res.version_info).not.toBe('');
    });
  }

  it('a per-type service refuses a request for another type with INVALID_ARGUMENT', async () => {
    h().set('n1', T.Listener, [h().make.listener('l1')]);
    const s = h().client().sotw('cds');
    s.send({ node: node('n1'), type_url: T.Listener, resource_names: [] });
    expect(grpc.status[(await s.ended()).code]).toBe('INVALID_ARGUMENT');
  });

  it('Fetch of a type that is not ready yet fails instead of returning an empty full-state set', async () => {
    const err = await h()
      .client()
      .fetch('cds', { node: node('nobody'), type_url: T.Cluster })
      .then(
        () => undefined,
        (e: grpc.ServiceError) => e,
      );
    expect(err).toBeDefined();
    expect(err?.code).not.toBe(grpc.status.OK);
  });
});
