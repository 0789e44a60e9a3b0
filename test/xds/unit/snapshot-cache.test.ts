import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { SnapshotCache } from '../../../src/xds/snapshot-cache.js';
import { TypeUrl, type EncodedResource, type StreamContext } from '../../../src/xds/contract.js';

function resource(name: string, typeUrl: string = TypeUrl.Cluster, version = 'v1'): EncodedResource {
  return { name, typeUrl, version, any: new Uint8Array([1, 2, 3]) };
}

function context(id: string): StreamContext {
  return {
    node: { id, cluster: '', userAgentName: '', userAgentVersion: '', locality: {}, clientFeatures: [], metadata: {} },
    peer: '127.0.0.1:1',
    metadata: new Metadata(),
  };
}

describe('SnapshotCache', () => {
  it('reports a type as not ready until it is set, then serves it by name', () => {
    const cache = new SnapshotCache();
    const view = cache.open(context('n1'));
    expect(view.resources(TypeUrl.Cluster)).toBeUndefined();
    cache.setResources('n1', TypeUrl.Cluster, []);
    expect(view.resources(TypeUrl.Cluster)?.size).toBe(0);
    cache.setResources('n1', TypeUrl.Cluster, [resource('a'), resource('b')]);
    expect([...(view.resources(TypeUrl.Cluster)?.keys() ?? [])]).toEqual(['a', 'b']);
    expect(cache.open(context('n2')).resources(TypeUrl.Cluster)).toBeUndefined();
  });

  it('replaces the map on change (never mutates one a stream may hold) and notifies only that node', () => {
    const cache = new SnapshotCache();
    const n1 = cache.open(context('n1'));
    const n2 = cache.open(context('n2'));
    const seen1: string[][] = [];
    const seen2: string[][] = [];
    n1.watch((types) => seen1.push([...types]));
    n2.watch((types) => seen2.push([...types]));
    cache.setResources('n1', TypeUrl.Cluster, [resource('a')]);
    const before = n1.resources(TypeUrl.Cluster);
    cache.setResources('n1', TypeUrl.Cluster, [resource('a', TypeUrl.Cluster, 'v2')]);
    expect(before?.get('a')?.version).toBe('v1');
    expect(n1.resources(TypeUrl.Cluster)?.get('a')?.version).toBe('v2');
    expect(seen1).toEqual([[TypeUrl.Cluster], [TypeUrl.Cluster]]);
    expect(seen2).toEqual([]);
  });

  it('stops notifying after unwatch or close, and clearNode makes every type not ready again', () => {
    const cache = new SnapshotCache();
    const view = cache.open(context('n1'));
    const seen: string[][] = [];
    const unwatch = view.watch((types) => seen.push([...types].sort()));
    cache.setResources('n1', TypeUrl.Cluster, [resource('a')]);
    cache.setResources('n1', TypeUrl.Listener, [resource('l', TypeUrl.Listener)]);
    cache.clearNode('n1');
    expect(seen).toEqual([[TypeUrl.Cluster], [TypeUrl.Listener], [TypeUrl.Cluster, TypeUrl.Listener].sort()]);
    expect(view.resources(TypeUrl.Cluster)).toBeUndefined();
    unwatch();
    cache.setResources('n1', TypeUrl.Cluster, [resource('a')]);
    expect(seen).toHaveLength(3);
    const other = cache.open(context('n1'));
    let count = 0;
    other.watch(() => (count += 1));
    other.close();
    cache.setResources('n1', TypeUrl.Cluster, [resource('b')]);
    expect(count).toBe(0);
  });

  it('rejects duplicate names and resources of another type, naming them', () => {
    const cache = new SnapshotCache();
    expect(() => cache.setResources('n1', TypeUrl.Cluster, [resource('a'), resource('a')])).toThrow(/duplicate resource name "a"/);
    expect(() => cache.setResources('n1', TypeUrl.Cluster, [resource('l', TypeUrl.Listener)])).toThrow(/"l" has type/);
  });

  it('passes authorization questions to the configured hook with the stream context', () => {
    const asked: string[] = [];
    const cache = new SnapshotCache({
      authorize: (ctx, typeUrl, name) => {
        asked.push(`${ctx.node.id} ${typeUrl} ${name}`);
        return name === 'secret' ? 'not yours' : undefined;
      },
    });
    const view = cache.open(context('n1'));
    expect(view.authorize(TypeUrl.Secret, 'secret')).toBe('not yours');
    expect(view.authorize(TypeUrl.Secret, 'mine')).toBeUndefined();
    expect(asked).toEqual([`n1 ${TypeUrl.Secret} secret`, `n1 ${TypeUrl.Secret} mine`]);
    expect(new SnapshotCache().open(context('n1')).authorize(TypeUrl.Secret, 'x')).toBeUndefined();
  });
});
