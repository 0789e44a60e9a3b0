import { describe, expect, it } from 'vitest';
import { rotationTime, shouldRotate } from '../../src/ca/rotation.js';

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

const H = 3600_000;

describe('leaf rotation time', () => {
  const cert = { notBefore: 0, notAfter: 24 * H };

  it('lands at 50% ± 10% of the lifetime by default', () => {
    const random = seeded(7);
    const times = Array.from({ length: 2000 }, () => rotationTime(cert, 0, random));
    expect(Math.min(...times)).toBeGreaterThanOrEqual(0.4 * 24 * H);
    expect(Math.max(...times)).toBeLessThanOrEqual(0.6 * 24 * H);
    // Spread: jitter actually spreads the fleet out.
    expect(Math.max(...times) - Math.min(...times)).toBeGreaterThan(0.15 * 24 * H);
  });

  it('uses the random source at the extremes', () => {
    expect(rotationTime(cert, 0, () => 0)).toBe(Math.round(0.4 * 24 * H));
    expect(rotationTime(cert, 0, () => 0.5)).toBe(0.5 * 24 * H);
    expect(rotationTime(cert, 0, () => 0.999999)).toBeCloseTo(0.6 * 24 * H, -2);
  });

  it('honours a configured fraction and never goes past the urgent point', () => {
    expect(rotationTime(cert, 0, () => 0.5, { rotateAt: 0.7, jitter: 0 })).toBe(Math.round(0.7 * 24 * H));
    expect(rotationTime(cert, 0, () => 0.999, { rotateAt: 0.85, jitter: 0.1 })).toBe(Math.round(0.9 * 24 * H));
  });

  it('rotates immediately past 90% of the lifetime', () => {
    const now = 0.95 * 24 * H;
    expect(rotationTime(cert, now, () => 0.5)).toBe(now);
    expect(shouldRotate(cert, rotationTime(cert, now, () => 0.5), now)).toBe(true);
  });

  it('is relative to notBefore', () => {
    const shifted = { notBefore: 1000 * H, notAfter: 1024 * H };
    expect(rotationTime(shifted, 1000 * H, () => 0.5)).toBe(1012 * H);
    expect(shouldRotate(shifted, 1012 * H, 1011 * H)).toBe(false);
    expect(shouldRotate(shifted, 1012 * H, 1012 * H)).toBe(true);
  });

  it('rejects nonsense policies', () => {
    expect(() => rotationTime(cert, 0, () => 0.5, { rotateAt: 1.5 })).toThrow(/rotateAt/);
    expect(() => rotationTime(cert, 0, () => 0.5, { jitter: -1 })).toThrow(/jitter/);
  });
});
