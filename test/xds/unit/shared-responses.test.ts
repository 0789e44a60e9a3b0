import { describe, expect, it } from 'vitest';
import { BoundedCache, SharedResponses } from '../../../src/xds/shared-responses.js';
import { TypeUrl, type EncodedResource } from '../../../src/xds/contract.js';
import { setVersion } from '../../../src/xds/versions.js';

function resource(name: string, version: string): EncodedResource {
  return { name, typeUrl: TypeUrl.ClusterLoadAssignment, version, any: Buffer.from(`${name}:${version}`) };
}

describe('SharedResponses', () => {
  it('computes set versions independent of order, and different for different content', () => {
    const shared = new SharedResponses('cp');
    const a = resource('a', '1');
    const b = resource('b', '1');
    expect(shared.versionOf([a, b])).toBe(shared.versionOf([b, a]));
    expect(shared.versionOf([a, b])).toBe(setVersion([b, a]));
    expect(shared.versionOf([a, resource('b', '2')])).not.toBe(shared.versionOf([a, b]));
    expect(shared.versionOf([a])).not.toBe(shared.versionOf([resource('c', '1')]));
    expect(shared.versionOf([])).toBe(setVersion([]));
    const map = new Map([
      ['a', a],
      ['b', b],
    ]);
    expect(shared.versionOfWholeMap(map)).toBe(shared.versionOf([a, b]));
  });

  it('builds a SotW body once per (type, version, list) and a Delta resource once per resource', () => {
    const shared = new SharedResponses('cp');
    const a = resource('a', '1');
    const version = shared.versionOf([a]);
    const first = shared.sotwBody(TypeUrl.ClusterLoadAssignment, version, [a], false);
    expect(shared.sotwBody(TypeUrl.ClusterLoadAssignment, version, [a], false)).toBe(first);
    expect(shared.sotwBody(TypeUrl.ClusterLoadAssignment, version, [a], true)).not.toBe(first);
    expect(shared.deltaResource(a)).toBe(shared.deltaResource(a));
  });

  it('bounds its caches by entries and bytes, oldest out first', () => {
    const cache = new BoundedCache<string>(2, 1000, (value) => value.length);
    cache.set('a', 'x');
    cache.set('b', 'y');
    cache.set('c', 'z');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('c')).toBe('z');
    const bytes = new BoundedCache<string>(10, 10, (value) => value.length);
    bytes.set('a', '12345');
    bytes.set('b', '12345');
    expect(bytes.get('a')).toBeUndefined();
    expect(bytes.size).toBe(1);
  });
});
