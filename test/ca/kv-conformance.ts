import { describe, expect, it } from 'vitest';
import type { CaKv } from '../../src/ca/kv.js';

/**
 * What every CaKv must do; the registry's Redis store can run this same suite
 * (`describeCaKvConformance('redis', () => store)`).
 */
export function describeCaKvConformance(name: string, make: () => CaKv | Promise<CaKv>, keyPrefix: () => string): void {
  describe(`CaKv conformance: ${name}`, () => {
    it('put-if-absent writes once; versions increase; stale versions lose', async () => {
      const kv = await make();
      const key = `${keyPrefix()}conf-a`;
      expect(await kv.kvGet(key)).toBeUndefined();
      expect(await kv.kvPutIfVersion(key, 'one', undefined)).toBe(true);
      expect(await kv.kvPutIfVersion(key, 'two', undefined)).toBe(false);
      const first = await kv.kvGet(key);
      expect(first?.value).toBe('one');
      expect(await kv.kvPutIfVersion(key, 'two', first?.version)).toBe(true);
      const second = await kv.kvGet(key);
      expect(second?.value).toBe('two');
      expect(second?.version).toBeGreaterThan(first?.version ?? Infinity);
      expect(await kv.kvPutIfVersion(key, 'three', first?.version)).toBe(false);
      expect((await kv.kvGet(key))?.value).toBe('two');
    });

    it('exactly one of many concurrent creators wins', async () => {
      const kv = await make();
      const key = `${keyPrefix()}conf-b`;
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => kv.kvPutIfVersion(key, `v${i}`, undefined)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await kv.kvGet(key))?.value).toBe(`v${results.indexOf(true)}`);
    });

    it('values are stored verbatim', async () => {
      const kv = await make();
      const key = `${keyPrefix()}conf-c`;
      const value = JSON.stringify({ text: 'multi\nline "quoted" ✓', n: 1 });
      expect(await kv.kvPutIfVersion(key, value, undefined)).toBe(true);
      expect((await kv.kvGet(key))?.value).toBe(value);
    });
  });
}
