import { describe, expect, it } from 'vitest';
import { deepFreeze } from '../../src/core/deep-freeze.js';

describe('deepFreeze', () => {
  it('freezes objects, arrays and the values of Maps at every depth', () => {
    const leaf = { port: 8080 };
    const inArray = { name: 'a' };
    const inMap = { endpoints: [{ address: '10.0.0.1' }] };
    const value = { spec: { leaf, list: [inArray, [1, 2]] }, byName: new Map([['x', inMap]]) };
    expect(deepFreeze(value)).toBe(value);
    for (const frozen of [value, value.spec, leaf, value.spec.list, inArray, value.spec.list[1], value.byName, inMap, inMap.endpoints, inMap.endpoints[0]]) {
      expect(Object.isFrozen(frozen)).toBe(true);
    }
    expect(() => {
      (leaf as { port: number }).port = 1;
    }).toThrow(TypeError);
  });

  it('returns primitives and null unchanged', () => {
    expect(deepFreeze(3)).toBe(3);
    expect(deepFreeze('x')).toBe('x');
    expect(deepFreeze(null)).toBe(null);
    expect(deepFreeze(undefined)).toBe(undefined);
  });

  it('leaves inherited properties alone and stops at an object already frozen', () => {
    const proto = { shared: { mutable: true } };
    const child = Object.create(proto) as { own: { n: number }; shared: { mutable: boolean } };
    child.own = { n: 1 };
    deepFreeze(child);
    expect(Object.isFrozen(child.own)).toBe(true);
    expect(Object.isFrozen(proto.shared)).toBe(false);

    // A frozen object is taken as frozen all the way down (it was frozen by deepFreeze, or on purpose).
    const inner = { n: 1 };
    const outer = Object.freeze({ inner });
    deepFreeze({ outer });
    expect(Object.isFrozen(inner)).toBe(false);
  });
});
