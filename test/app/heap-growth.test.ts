import { describe, expect, it } from 'vitest';
import { heapGrowthGiven } from '../../src/app/heap-growth.js';

describe('heapGrowthGiven', () => {
  it("leaves an operator's own heap growth factor alone, from the command line or NODE_OPTIONS", () => {
    expect(heapGrowthGiven([], undefined)).toBe(false);
    expect(heapGrowthGiven(['--max-old-space-size=2048'], '--enable-source-maps')).toBe(false);
    expect(heapGrowthGiven(['--heap-growing-percent=50'], undefined)).toBe(true);
    expect(heapGrowthGiven([], '--enable-source-maps --heap_growing_percent=10')).toBe(true);
  });
});
