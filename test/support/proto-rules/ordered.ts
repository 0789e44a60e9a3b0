import { listRule, type RuleSet } from './rules.js';
import type { Report } from './problem.js';

/** How to read rule bounds for one kind of value, compare values and show them in messages. */
export interface Order<T> {
  parseBound(raw: unknown): T | undefined;
  compare(a: T, b: T): number;
  format(value: T): string;
}

interface Bound<T> {
  readonly name: string;
  readonly value: T;
  readonly exclusive: boolean;
}

/**
 * Applies const, lt, lte, gt, gte, in and not_in. As in protoc-gen-validate, a lower bound
 * that is not below the upper bound reverses the range: the value must then lie outside it.
 */
export function checkOrdered<T>(kind: string, value: T, rules: RuleSet, order: Order<T>, report: Report): void {
  const bound = (name: string): T | undefined => {
    if (rules[name] === undefined) return undefined;
    const parsed = order.parseBound(rules[name]);
    if (parsed === undefined) report('unsupported', `rule ${kind}.${name} has an unreadable bound`);
    return parsed;
  };
  const constant = bound('const');
  if (constant !== undefined && order.compare(value, constant) !== 0) {
    report(`${kind}.const`, `must equal ${order.format(constant)}, got ${order.format(value)}`);
  }

  const lower = pickBound('gt', 'gte', bound);
  const upper = pickBound('lt', 'lte', bound);
  const isAbove = (b: Bound<T>): boolean => (b.exclusive ? order.compare(value, b.value) > 0 : order.compare(value, b.value) >= 0);
  const isBelow = (b: Bound<T>): boolean => (b.exclusive ? order.compare(value, b.value) < 0 : order.compare(value, b.value) <= 0);
  const describe = (b: Bound<T>, side: 'above' | 'below'): string =>
    `${side === 'above' ? (b.exclusive ? 'greater than' : 'at least') : b.exclusive ? 'less than' : 'at most'} ${order.format(b.value)}`;

  if (lower && upper && !(order.compare(upper.value, lower.value) > 0)) {
    if (!isAbove(lower) && !isBelow(upper)) {
      report(
        `${kind}.${lower.name}`,
        `must be ${describe(lower, 'above')} or ${describe(upper, 'below')}, got ${order.format(value)}`,
      );
    }
  } else {
    if (lower && !isAbove(lower)) report(`${kind}.${lower.name}`, `must be ${describe(lower, 'above')}, got ${order.format(value)}`);
    if (upper && !isBelow(upper)) report(`${kind}.${upper.name}`, `must be ${describe(upper, 'below')}, got ${order.format(value)}`);
  }

  const members = (name: string): T[] =>
    listRule(rules[name]).flatMap((raw) => {
      const parsed = order.parseBound(raw);
      if (parsed === undefined) report('unsupported', `rule ${kind}.${name} has an unreadable value`);
      return parsed === undefined ? [] : [parsed];
    });
  const allowed = members('in');
  if (rules.in !== undefined && !allowed.some((candidate) => order.compare(value, candidate) === 0)) {
    report(`${kind}.in`, `must be one of [${allowed.map(order.format).join(', ')}], got ${order.format(value)}`);
  }
  const forbidden = members('not_in');
  if (forbidden.some((candidate) => order.compare(value, candidate) === 0)) {
    report(`${kind}.not_in`, `must not be one of [${forbidden.map(order.format).join(', ')}], got ${order.format(value)}`);
  }
}

function pickBound<T>(
  exclusiveName: string,
  inclusiveName: string,
  bound: (name: string) => T | undefined,
): Bound<T> | undefined {
  const exclusive = bound(exclusiveName);
  if (exclusive !== undefined) return { name: exclusiveName, value: exclusive, exclusive: true };
  const inclusive = bound(inclusiveName);
  if (inclusive !== undefined) return { name: inclusiveName, value: inclusive, exclusive: false };
  return undefined;
}

export function compareNumbers(a: number, b: number): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return a === b ? 0 : Number.NaN;
}

export function compareBigInts(a: bigint, b: bigint): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
