import { describe, expect, it } from 'vitest';
import { MessageSlab } from '../../../src/xds/message-slab.js';

describe('MessageSlab', () => {
  it('carves small messages from one shared backing store, without overlap', () => {
    const slab = new MessageSlab();
    const a = slab.take(100);
    const b = slab.take(5000);
    const c = slab.take(3);
    expect(a.buffer).toBe(b.buffer);
    expect(b.buffer).toBe(c.buffer);
    a.fill(1);
    b.fill(2);
    c.fill(3);
    expect([...a].every((x) => x === 1)).toBe(true);
    expect([...b].every((x) => x === 2)).toBe(true);
    expect([...c]).toEqual([3, 3, 3]);
    expect(b.byteOffset % 8).toBe(0);
    expect(c.byteOffset % 8).toBe(0);
  });

  it('starts a new slab when the current one is full, and gives large messages memory of their own', () => {
    const slab = new MessageSlab();
    const first = slab.take(60_000);
    const parts = Array.from({ length: 4 }, () => slab.take(60_000));
    expect(new Set([first, ...parts].map((b) => b.buffer)).size).toBe(2);
    const large = slab.take(200_000);
    expect(large.length).toBe(200_000);
    expect(large.buffer).not.toBe(first.buffer);
    expect(large.buffer.byteLength).toBe(200_000);
    const after = slab.take(10);
    expect(after.buffer).toBe(parts[3]?.buffer);
  });
});
