import { describe, expect, it } from 'vitest';
import { SharedResponses } from '../../../src/xds/shared-responses.js';
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
    // Another map sharing a resource with the first: its digest comes from the cache, the version is the same as computed afresh.
    const c = resource('c', '1');
    const other = new Map([
      ['a', a],
      ['c', c],
    ]);
    expect(shared.versionOfWholeMap(other)).toBe(setVersion([a, c]));
    expect(shared.versionOfWholeMap(other)).not.toBe(shared.versionOfWholeMap(map));
  });

  it('gives the same set the same version on every replica, and tells sets of one size apart', () => {
    const [a, b, c] = [resource('a', '1'), resource('b', '1'), resource('c', '1')];
    const one = new SharedResponses('replica-1');
    const other = new SharedResponses('replica-2');
    expect(one.versionOf([c, a, b])).toBe(other.versionOf([a, b, c]));
    expect(one.versionOf([a, b])).not.toBe(one.versionOf([a, c]));
    expect(one.versionOf([a, b])).not.toBe(one.versionOf([a, b, c]));
    // Same versions under other names are other content.
    expect(one.versionOf([resource('a', '2'), b])).not.toBe(one.versionOf([a, resource('b', '2')]));
    // Asked twice (the second time from cached digests): the same answer.
    expect(one.versionOf([a, b, c])).toBe(one.versionOf([a, b, c]));
  });

  it('writes a whole SotW response per stream and a Delta resource once per resource', () => {
    const shared = new SharedResponses('cp');
    const a = resource('a', '1');
    const b = resource('b', '1');
    const version = shared.versionOf([a, b]);
    const first = shared.sotwResponse('n-1', TypeUrl.ClusterLoadAssignment, version, [a, b]);
    const second = shared.sotwResponse('n-2', TypeUrl.ClusterLoadAssignment, version, [a, b]);
    // Same content after the nonce: only the nonce differs between streams.
    expect(first.subarray(first.indexOf('n-1') + 3)).toEqual(second.subarray(second.indexOf('n-2') + 3));
    expect(shared.deltaResource(a)).toBe(shared.deltaResource(a));
  });
});
