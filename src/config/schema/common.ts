/**
 * Building blocks for the policy schemas. Every leaf carries a message written for operators
 * ("expected a positive integer, got -1"); a missing required field always reads
 * "required field is missing".
 */
import { z } from 'zod';
import { parseDuration } from '../../core/duration.js';
import { DNS1123_LABEL_RULE, DNS1123_SUBDOMAIN_RULE, checkDns1123Label, checkDns1123Subdomain } from '../../core/names.js';
import { clip } from '../errors.js';

export const REQUIRED = 'required field is missing';

/** A short description of a YAML/JSON value for messages. */
export function describeValue(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return input.length === 0 ? 'an empty list' : 'a list';
  if (typeof input === 'object') return 'a mapping';
  if (typeof input === 'string') return JSON.stringify(clip(input));
  return String(input);
}

/** Schema parameters whose message says what was expected and what was found. */
export function expecting(what: string): { error: z.core.$ZodErrorMap } {
  return {
    error: (issue) => (issue.input === undefined ? REQUIRED : `expected ${what}, got ${describeValue(issue.input)}`),
  };
}

/** Generic messages for issues that no schema worded itself (mappings, lists, literals). */
export const policyErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) return REQUIRED;
  switch (issue.code) {
    case 'invalid_type': {
      const expected =
        issue.expected === 'object' || issue.expected === 'record'
          ? 'a mapping'
          : issue.expected === 'array'
            ? 'a list'
            : `a ${issue.expected}`;
      return `expected ${expected}, got ${describeValue(issue.input)}`;
    }
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${describeValue(issue.values[0])}, got ${describeValue(issue.input)}`
        : `expected one of ${issue.values.map(String).join(', ')}, got ${describeValue(issue.input)}`;
    case 'too_small':
      return issue.origin === 'array' ? `expected at least ${issue.minimum} item(s)` : `expected at least ${issue.minimum}`;
    case 'too_big':
      return issue.origin === 'array' ? `expected at most ${issue.maximum} item(s)` : `expected at most ${issue.maximum}`;
    default:
      return undefined;
  }
};

/** A string held to one of the name grammars of `core/names.ts` (the registry uses the same). */
function nameBy(check: (value: unknown) => string | undefined, rule: string): z.ZodType<string> {
  return z.string(expecting(rule)).refine((value) => check(value) === undefined, expecting(rule));
}

/** Services, namespaces, service accounts: they end up in SPIFFE IDs, cluster names and `xds:///` targets. */
export function serviceName(): z.ZodType<string> {
  return nameBy(checkDns1123Label, DNS1123_LABEL_RULE);
}

/** Names of policy documents and subsets, as Kubernetes names objects. */
export function objectName(): z.ZodType<string> {
  return nameBy(checkDns1123Subdomain, DNS1123_SUBDOMAIN_RULE);
}

export function nonEmptyString(what = 'a non-empty string'): z.ZodString {
  return z.string(expecting(what)).min(1, expecting(what));
}

export function boolean(): z.ZodBoolean {
  return z.boolean(expecting('true or false'));
}

export function positiveInt(): z.ZodNumber {
  const what = 'a positive integer';
  return z.number(expecting(what)).int(expecting(what)).min(1, expecting(what));
}

export function nonNegativeInt(): z.ZodNumber {
  const what = 'a non-negative integer';
  return z.number(expecting(what)).int(expecting(what)).min(0, expecting(what));
}

export function intBetween(min: number, max: number): z.ZodNumber {
  const what = `an integer from ${min} to ${max}`;
  return z.number(expecting(what)).int(expecting(what)).min(min, expecting(what)).max(max, expecting(what));
}

export function port(): z.ZodNumber {
  return intBetween(1, 65535);
}

/** A fraction: 0 < x < 1, or 0 <= x < 1 with `allowZero`. */
export function fraction(allowZero: boolean): z.ZodNumber {
  const what = allowZero ? 'a number from 0 up to (not including) 1' : 'a number between 0 and 1 (exclusive)';
  const number = z.number(expecting(what)).lt(1, expecting(what));
  return allowZero ? number.min(0, expecting(what)) : number.gt(0, expecting(what));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T): z.ZodEnum<{ [K in T[number]]: K }> {
  return z.enum(values, expecting(`one of ${values.join(', ')}`));
}

/** A duration string ("250ms", "30s", "1h30m") as milliseconds, at least `minMs` (and at most `maxMs`, when given). */
export function duration(minMs: number, maxMs?: { readonly ms: number; readonly text: string }): z.ZodPipe<z.ZodString, z.ZodTransform<number, string>> {
  return z.string(expecting('a duration such as "250ms", "30s", "5m" or "1h30m"')).transform((text, context) => {
    const parsed = parseDuration(text);
    if (!parsed.ok) {
      context.issues.push({ code: 'custom', message: parsed.reason, input: text });
      return z.NEVER;
    }
    if (parsed.ms < minMs) {
      const limit = minMs === 1 ? 'greater than 0' : `at least ${minMs}ms`;
      context.issues.push({ code: 'custom', message: `expected a duration ${limit}, got ${describeValue(text)}`, input: text });
      return z.NEVER;
    }
    if (maxMs && parsed.ms > maxMs.ms) {
      context.issues.push({ code: 'custom', message: `expected a duration of at most ${maxMs.text}, got ${describeValue(text)}`, input: text });
      return z.NEVER;
    }
    return parsed.ms;
  });
}

/** A list that must hold at least one item. */
export function nonEmptyList<T extends z.ZodType>(item: T, what: string): z.ZodArray<T> {
  return z.array(item, expecting(`a list of ${what}`)).min(1, expecting(`a non-empty list of ${what}`));
}

/** Label keys and values (string to string; YAML numbers and booleans must be quoted). */
export function labels(): z.ZodRecord<z.ZodString, z.ZodString> {
  return z.record(nonEmptyString('a non-empty label key'), z.string(expecting('a string (quote numbers and booleans)')), expecting('a mapping of labels'));
}

/**
 * For rules across fields: run only when the fields themselves are valid, so one mistake is
 * not reported twice (zod would otherwise still run them after a failed range check).
 */
export const WHEN_FIELDS_VALID: z.core.$ZodSuperRefineParams = { when: (payload) => payload.issues.length === 0 };

/**
 * A refinement for lists whose items must differ in one field: reports every later item, naming
 * the first. It runs even when other items have mistakes, since it cannot double-report them.
 */
export function reportDuplicates<T>(
  listName: string,
  keyOf: (item: T) => unknown,
  field: string,
  describe: (item: T) => string,
): (items: readonly T[], context: z.core.$RefinementCtx<T[]>) => void {
  return (items, context) => {
    const first = new Map<unknown, number>();
    items.forEach((item, index) => {
      const key = keyOf(item);
      const earlier = first.get(key);
      if (earlier === undefined) first.set(key, index);
      else context.addIssue({ code: 'custom', path: [index, field], message: `${describe(item)} (also ${listName}[${earlier}])` });
    });
  };
}
