import { describe, expect, it } from 'vitest';
import { SigningBudget } from '../../src/ca/signing-budget.js';

describe('signing budget', () => {
  it('holds the rate over a simulated re-key of 10,000 proxies', () => {
    const budget = new SigningBudget(1000, 200);
    let now = 0;
    let signed = 0;
    const perWindow = new Map<number, number>();
    while (signed < 10_000) {
      const granted = budget.take(now, 10_000 - signed);
      signed += granted;
      const second = Math.floor(now / 1000);
      perWindow.set(second, (perWindow.get(second) ?? 0) + granted);
      now += granted > 0 ? 1 : Math.max(1, budget.waitMs(now));
    }
    // Burst of 200 at the start, then never more than the rate per second.
    expect(perWindow.get(0)).toBeLessThanOrEqual(1200);
    for (const [second, count] of perWindow) if (second > 0) expect(count).toBeLessThanOrEqual(1001);
    expect(now).toBeGreaterThanOrEqual(9_700);
  });

  it('reports how long to wait and refuses nonsense', () => {
    const budget = new SigningBudget(10, 1);
    expect(budget.take(0)).toBe(1);
    expect(budget.take(0)).toBe(0);
    expect(budget.waitMs(0)).toBe(100);
    expect(budget.waitMs(50)).toBe(50);
    expect(budget.take(100)).toBe(1);
    expect(budget.take(50)).toBe(0); // time going backwards grants nothing extra
    expect(() => new SigningBudget(0)).toThrow(/perSecond/);
  });
});
