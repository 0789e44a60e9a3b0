import { describe, expect, it, vi } from 'vitest';
import { IssuanceLimiter } from '../../src/identity/issuance-limiter.js';

const HOUR = 3_600_000;

describe('IssuanceLimiter', () => {
  it('a fleet starting at once is not swept on every issuance (cold start was quadratic in the fleet)', () => {
    const now = 0;
    const limiter = new IssuanceLimiter({ burst: 5, perMinute: 3 }, () => now);
    const sweep = vi.spyOn(limiter, 'sweep');
    for (let i = 0; i < 10_000; i++) limiter.take(`w${i}`, HOUR);
    expect(limiter.tracked).toBe(10_000);
    // Each sweep keeps every bucket (none has refilled): the next waits for twice as many.
    expect(sweep.mock.calls.length).toBeLessThanOrEqual(4);
  });

  it('stays bounded: refilled buckets are dropped once the map has doubled', () => {
    let now = 0;
    const limiter = new IssuanceLimiter({ burst: 5, perMinute: 3 }, () => now);
    for (let i = 0; i < 3_000; i++) limiter.take(`old${i}`, HOUR);
    now += HOUR;
    for (let i = 0; i < 5_000; i++) limiter.take(`new${i}`, HOUR);
    expect(limiter.tracked).toBeLessThan(8_000);
    expect(limiter.tracked).toBeGreaterThanOrEqual(5_000 - 3_000);
  });
});
