// Authorization hooks: SnapshotCache `authorize` and ConfigSource refusals.
import { describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { StreamRefusedError, type StreamContext } from '../../../src/xds/contract.js';
import { dnames, names, node, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

/** A workload may read only its own secret, and only with a bearer token naming itself. */
function ownSecretsOnly(ctx: StreamContext, typeUrl: string, name: string): string | undefined {
  if (typeUrl !== T.Secret) return undefined;
  const auth = ctx.metadata.get('authorization')[0];
  if (auth !== `Bearer ${ctx.node.id}`) return 'missing or foreign token';
  return name === `${ctx.node.id}-cert` ? undefined : `secret ${name} belongs to another workload`;
}

describe('authorization', () => {
  const h = useHarness({ authorize: ownSecretsOnly });

  function seedSecrets(): void {
    const { make } = h();
    h().set('n1', T.Secret, [make.secret('n1-cert'), make.secret('n2-cert')]);
    h().set('n1', T.Cluster, [make.cluster('c1')]);
  }

  it('SotW: an authorized secret is served; the hook sees node id and stream metadata', async () => {
    seedSecrets();
    const s = h().client({ metadata: { authorization: 'Bearer n1' } }).sotw();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: ['n1-cert'] });
    expect(names(h().codec, await s.next())).toEqual(['n1-cert']);
  });

  it('SotW: a request for a secret the hook refuses ends the stream with PERMISSION_DENIED and is counted', async () => {
    seedSecrets();
    const s = h().client({ metadata: { authorization: 'Bearer n1' } }).sotw();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: ['n2-cert'] });
    const end = await s.ended();
    expect(grpc.status[end.code]).toBe('PERMISSION_DENIED');
    expect(end.details).toContain('n2-cert');
    expect(s.received).toEqual([]);
    expect(await h().counter('accord_xds_denied_total')).toBe(1);
  });

  it('Delta: a refused subscription ends the stream with PERMISSION_DENIED', async () => {
    seedSecrets();
    const s = h().client({ metadata: { authorization: 'Bearer n1' } }).delta();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names_subscribe: ['n2-cert'] });
    expect(grpc.status[(await s.ended()).code]).toBe('PERMISSION_DENIED');
  });

  it('Delta: without the token even the own secret is refused, while config types are served', async () => {
    seedSecrets();
    const config = h().client().delta();
    config.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    expect(dnames(await config.next())).toEqual(['c1']);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names_subscribe: ['n1-cert'] });
    const end = await s.ended();
    expect(grpc.status[end.code]).toBe('PERMISSION_DENIED');
    expect(config.isEnded).toBe(false);
  });
});

describe('authorization of resources claimed on reconnect', () => {
  const h = useHarness({ authorize: ownSecretsOnly });

  /** The current version of a secret, as its owner sees it. */
  async function ownerView(): Promise<{ sotwVersion: string; deltaVersion: string }> {
    const { make } = h();
    h().set('n2', T.Secret, [make.secret('n2-cert')]);
    const sotw = h().client({ metadata: { authorization: 'Bearer n2' } }).sotw();
    sotw.send({ node: node('n2'), type_url: T.Secret, resource_names: ['n2-cert'] });
    const res = await sotw.next();
    const delta = h().client({ metadata: { authorization: 'Bearer n2' } }).delta();
    delta.send({ node: node('n2'), type_url: T.Secret, resource_names_subscribe: ['n2-cert'] });
    const dres = await delta.next();
    sotw.close();
    delta.close();
    return { sotwVersion: res.version_info, deltaVersion: dres.resources[0].version };
  }

  it('SotW: a reconnect claiming a foreign secret by its current version never receives it', async () => {
    const { sotwVersion } = await ownerView();
    const { make } = h();
    // n1 is served n2's resources here so that only authorization stands in the way.
    h().set('n1', T.Secret, [make.secret('n2-cert')]);
    const s = h().client({ metadata: { authorization: 'Bearer n1' } }).sotw();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: ['n2-cert'], version_info: sotwVersion, response_nonce: 'old' });
    h().set('n1', T.Secret, [make.secret('n2-cert', 'rotated')]);
    const end = await s.ended();
    expect(grpc.status[end.code]).toBe('PERMISSION_DENIED');
    for (const res of s.received) expect(res.resources).toEqual([]);
  });

  it('Delta: initial_resource_versions claiming a foreign secret never lead to receiving it', async () => {
    const { deltaVersion } = await ownerView();
    const { make } = h();
    h().set('n1', T.Secret, [make.secret('n2-cert')]);
    const s = h().client({ metadata: { authorization: 'Bearer n1' } }).delta();
    s.send({ node: node('n1'), type_url: T.Secret, resource_names_subscribe: ['n2-cert'], initial_resource_versions: { 'n2-cert': deltaVersion } });
    h().set('n1', T.Secret, [make.secret('n2-cert', 'rotated')]);
    const end = await s.ended();
    expect(grpc.status[end.code]).toBe('PERMISSION_DENIED');
    for (const res of s.received) expect(res.resources).toEqual([]);
  });
});

describe('stream refusal by the config source', () => {
  const h = useHarness({
    source: (cache) => ({
      open: (ctx: StreamContext) => {
        const auth = ctx.metadata.get('authorization')[0];
        if (auth === undefined) throw new StreamRefusedError('UNAUTHENTICATED', 'no workload token');
        if (auth !== `Bearer ${ctx.node.id}`) throw new StreamRefusedError('PERMISSION_DENIED', `token does not match node ${ctx.node.id}`);
        return cache.open(ctx);
      },
    }),
  });

  it('UNAUTHENTICATED and PERMISSION_DENIED from open() end the stream with that code; a valid stream works', async () => {
    h().set('n1', T.Cluster, [h().make.cluster('c1')]);
    const anonymous = h().client().sotw();
    anonymous.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    expect(grpc.status[(await anonymous.ended()).code]).toBe('UNAUTHENTICATED');

    const impostor = h().client({ metadata: { authorization: 'Bearer n2' } }).delta();
    impostor.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const end = await impostor.ended();
    expect(grpc.status[end.code]).toBe('PERMISSION_DENIED');
    expect(end.details).toContain('n1');

    const valid = h().client({ metadata: { authorization: 'Bearer n1' } }).sotw();
    valid.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    expect(names(h().codec, await valid.next())).toEqual(['c1']);
    expect(h().server.proxies().map((p) => p.nodeId)).toEqual(['n1']);
  });
});
