import { describe, expect, it } from 'vitest';
import { MapBuilder } from '../../src/registry/persistent-map.js';

describe('PersistentMap', () => {
  it('behaves like a map and keeps old versions unchanged', () => {
    const builder = new MapBuilder<number>();
    for (let i = 0; i < 1000; i++) builder.set(`k-${i}`, i);
    const v1 = builder.snapshot();
    builder.set('k-1', -1);
    builder.delete('k-2');
    builder.set('new', 7);
    const v2 = builder.snapshot();
    expect(v1.size).toBe(1000);
    expect(v1.get('k-1')).toBe(1);
    expect(v1.has('k-2')).toBe(true);
    expect(v1.has('new')).toBe(false);
    expect(v2.size).toBe(1000);
    expect(v2.get('k-1')).toBe(-1);
    expect(v2.has('k-2')).toBe(false);
    expect(v2.get('new')).toBe(7);
    expect(new Map(v2).size).toBe(1000);
    expect([...v1.keys()].sort()).toEqual([...new Map([...v1]).keys()].sort());
    const seen: string[] = [];
    v2.forEach((_, key) => seen.push(key));
    expect(seen).toHaveLength(1000);
    expect([...v2.values()].reduce((a, b) => a + b, 0)).toBe((999 * 1000) / 2 - 1 - 1 - 2 + 7);
  });

  it('is unaffected by clear on the builder', () => {
    const builder = new MapBuilder<string>();
    builder.set('a', 'x');
    const before = builder.snapshot();
    builder.clear();
    builder.set('b', 'y');
    expect([...before.entries()]).toEqual([['a', 'x']]);
    expect([...builder.snapshot().entries()]).toEqual([['b', 'y']]);
    expect(builder.delete('zzz')).toBe(false);
  });

  it('is frozen', () => {
    const snapshot = new MapBuilder<number>().snapshot();
    expect(Object.isFrozen(snapshot)).toBe(true);
  });
});
