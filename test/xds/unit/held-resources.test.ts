import { describe, expect, it } from 'vitest';
import type { EncodedResource } from '../../../src/xds/contract.js';
import { HeldResources } from '../../../src/xds/held-resources.js';

const resource = (name: string): EncodedResource => ({ name, version: 'v1', typeUrl: 't', any: Buffer.from(name) });

describe('HeldResources', () => {
  const a = resource('a');
  const b = resource('b');
  const c = resource('c');
  const shared: ReadonlyMap<string, EncodedResource> = new Map([
    ['a', a],
    ['b', b],
    ['c', c],
  ]);

  it('holds all of a shared map by reference', () => {
    const held = new HeldResources();
    expect(held.size).toBe(0);
    held.share(shared);
    expect(held.size).toBe(3);
    expect(held.get('b')).toBe(b);
    expect([...held.names()]).toEqual(['a', 'b', 'c']);
  });

  it('holds only the named part of a shared map, skipping names the map lacks', () => {
    const held = new HeldResources();
    held.share(shared, new Set(['c', 'a', 'zz']));
    expect(held.size).toBe(2);
    expect(held.has('b')).toBe(false);
    expect(held.has('zz')).toBe(false);
    expect([...held.values()]).toEqual([c, a]);
  });

  it('a deletion copies, never touching the shared map', () => {
    const held = new HeldResources();
    held.share(shared, new Set(['a', 'b']));
    held.delete('c');
    held.delete('a');
    expect([...held.names()]).toEqual(['b']);
    expect(shared.size).toBe(3);
    held.share(shared);
    expect(held.size).toBe(3);
  });

  it('holds exactly a list in a map of its own', () => {
    const held = new HeldResources();
    held.share(shared);
    const d = resource('d');
    held.holdOnly([b, d]);
    expect([...held.values()]).toEqual([b, d]);
    expect(held.get('a')).toBeUndefined();
  });
});
