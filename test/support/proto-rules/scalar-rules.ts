import { STRING_FORMATS, knownRegexOf, matchesFormat, matchesKnownRegex } from './formats.js';
import { checkOrdered, compareBigInts, compareNumbers } from './ordered.js';
import type { Report } from './problem.js';
import { reportUnsupportedRules } from './supported.js';
import { listRule, type RuleSet } from './rules.js';
import { parseFloating, parseInteger, type FloatKind, type IntegerKind } from './values.js';

/** Integer rules (int32 ... sfixed64): const, lt, lte, gt, gte, in, not_in. */
export function checkIntegerRules(kind: IntegerKind, value: bigint, rules: RuleSet, report: Report): void {
  reportUnsupportedRules(kind, rules, report);
  if (rules.ignore_empty === true && value === 0n) return;
  checkOrdered(kind, value, rules, { parseBound: (raw) => parseInteger(raw, kind), compare: compareBigInts, format: String }, report);
}

/** float and double rules: const, lt, lte, gt, gte, in, not_in. NaN satisfies no bound. */
export function checkFloatRules(kind: FloatKind, value: number, rules: RuleSet, report: Report): void {
  reportUnsupportedRules(kind, rules, report);
  if (rules.ignore_empty === true && value === 0) return;
  checkOrdered(kind, value, rules, { parseBound: (raw) => parseFloating(raw, kind), compare: compareNumbers, format: String }, report);
}

export function checkBoolRules(value: boolean, rules: RuleSet, report: Report): void {
  reportUnsupportedRules('bool', rules, report);
  if (typeof rules.const === 'boolean' && value !== rules.const) report('bool.const', `must be ${rules.const}`);
}

/** Enum rules on the numeric value. `definedNumbers` are the values the enum declares. */
export function checkEnumRules(value: number, definedNumbers: readonly number[], rules: RuleSet, report: Report): void {
  reportUnsupportedRules('enum', rules, report);
  if (rules.const !== undefined && value !== rules.const) report('enum.const', `must be ${String(rules.const)}, got ${value}`);
  if (rules.defined_only === true && !definedNumbers.includes(value)) {
    report('enum.defined_only', `${value} is not a value the enum defines`);
  }
  const allowed = listRule(rules.in);
  if (rules.in !== undefined && !allowed.includes(value)) report('enum.in', `must be one of [${allowed.join(', ')}], got ${value}`);
  const forbidden = listRule(rules.not_in);
  if (forbidden.includes(value)) report('enum.not_in', `must not be one of [${forbidden.join(', ')}], got ${value}`);
}

/** String rules. Lengths count Unicode code points; the *_bytes rules count UTF-8 bytes. */
export function checkStringRules(value: string, rules: RuleSet, report: Report): void {
  reportUnsupportedRules('string', rules, report);
  if (rules.ignore_empty === true && value === '') return;
  const chars = [...value].length;
  const bytes = Buffer.byteLength(value, 'utf8');
  const fail = (rule: string, expectation: string): void => report(`string.${rule}`, `${expectation}, got ${JSON.stringify(value)}`);
  const text = (name: string): string | undefined => (typeof rules[name] === 'string' ? rules[name] : undefined);
  const show = JSON.stringify;

  const exact = text('const');
  if (exact !== undefined && value !== exact) fail('const', `must be ${show(exact)}`);
  checkCount('string.len', chars, 'characters', rules.len, 'exactly', report);
  checkCount('string.min_len', chars, 'characters', rules.min_len, 'at least', report);
  checkCount('string.max_len', chars, 'characters', rules.max_len, 'at most', report);
  checkCount('string.len_bytes', bytes, 'bytes', rules.len_bytes, 'exactly', report);
  checkCount('string.min_bytes', bytes, 'bytes', rules.min_bytes, 'at least', report);
  checkCount('string.max_bytes', bytes, 'bytes', rules.max_bytes, 'at most', report);
  const pattern = text('pattern');
  if (pattern !== undefined) checkPattern('string.pattern', pattern, value, report);
  const prefix = text('prefix');
  if (prefix !== undefined && !value.startsWith(prefix)) fail('prefix', `must start with ${show(prefix)}`);
  const suffix = text('suffix');
  if (suffix !== undefined && !value.endsWith(suffix)) fail('suffix', `must end with ${show(suffix)}`);
  const contains = text('contains');
  if (contains !== undefined && !value.includes(contains)) fail('contains', `must contain ${show(contains)}`);
  const notContains = text('not_contains');
  if (notContains !== undefined && value.includes(notContains)) fail('not_contains', `must not contain ${show(notContains)}`);
  const allowed = listRule(rules.in);
  if (rules.in !== undefined && !allowed.includes(value)) fail('in', `must be one of ${show(allowed)}`);
  const forbidden = listRule(rules.not_in);
  if (forbidden.includes(value)) fail('not_in', `must not be one of ${show(forbidden)}`);
  for (const format of STRING_FORMATS) {
    if (rules[format] === true && !matchesFormat(format, value)) fail(format, `must be a valid ${format}`);
  }
  if (rules.well_known_regex !== undefined) {
    const regex = knownRegexOf(rules.well_known_regex);
    const strict = rules.strict !== false;
    if (regex === undefined) {
      report('unsupported', `rule string.well_known_regex ${String(rules.well_known_regex)} is not supported by this checker`);
    } else if (!matchesKnownRegex(regex, strict, value)) {
      const what = regex === 'HTTP_HEADER_NAME' ? 'HTTP header name' : 'HTTP header value';
      fail('well_known_regex', `must be a valid ${what}${strict ? '' : ' (loose: no NUL, CR or LF)'}`);
    }
  }
}

/** Bytes rules. Constants in annotations are text-format strings, one character per byte. */
export function checkBytesRules(value: Uint8Array, rules: RuleSet, report: Report): void {
  reportUnsupportedRules('bytes', rules, report);
  if (rules.ignore_empty === true && value.length === 0) return;
  const data = Buffer.from(value);
  const constant = (raw: unknown): Buffer | undefined => (typeof raw === 'string' ? Buffer.from(raw, 'latin1') : undefined);

  const exact = constant(rules.const);
  if (exact && !data.equals(exact)) report('bytes.const', 'must equal the constant bytes');
  checkCount('bytes.len', data.length, 'bytes', rules.len, 'exactly', report);
  checkCount('bytes.min_len', data.length, 'bytes', rules.min_len, 'at least', report);
  checkCount('bytes.max_len', data.length, 'bytes', rules.max_len, 'at most', report);
  if (typeof rules.pattern === 'string') checkPattern('bytes.pattern', rules.pattern, data.toString('utf8'), report);
  const prefix = constant(rules.prefix);
  if (prefix && !data.subarray(0, prefix.length).equals(prefix)) report('bytes.prefix', 'must start with the given bytes');
  const suffix = constant(rules.suffix);
  const endsWithSuffix = suffix !== undefined && data.length >= suffix.length && data.subarray(data.length - suffix.length).equals(suffix);
  if (suffix && !endsWithSuffix) report('bytes.suffix', 'must end with the given bytes');
  const contains = constant(rules.contains);
  if (contains && !data.includes(contains)) report('bytes.contains', 'must contain the given bytes');
  const allowed = listRule(rules.in).flatMap((raw) => constant(raw) ?? []);
  if (rules.in !== undefined && !allowed.some((candidate) => data.equals(candidate))) report('bytes.in', 'must be one of the listed values');
  if (listRule(rules.not_in).some((raw) => constant(raw)?.equals(data))) report('bytes.not_in', 'must not be one of the listed values');
  if (rules.ip === true && data.length !== 4 && data.length !== 16) report('bytes.ip', `must be 4 or 16 bytes, got ${data.length}`);
  if (rules.ipv4 === true && data.length !== 4) report('bytes.ipv4', `must be 4 bytes, got ${data.length}`);
  if (rules.ipv6 === true && data.length !== 16) report('bytes.ipv6', `must be 16 bytes, got ${data.length}`);
}

/** min_items / max_pairs style count rules shared by strings, bytes, lists and maps. */
export function checkCount(
  rule: string,
  count: number,
  unit: string,
  limit: unknown,
  relation: 'exactly' | 'at least' | 'at most',
  report: Report,
): void {
  if (limit === undefined) return;
  const bound = typeof limit === 'number' || typeof limit === 'string' ? Number(limit) : Number.NaN;
  if (!Number.isInteger(bound)) {
    report('unsupported', `rule ${rule} has an unreadable limit`);
    return;
  }
  const ok = relation === 'exactly' ? count === bound : relation === 'at least' ? count >= bound : count <= bound;
  if (!ok) report(rule, `must have ${relation} ${bound} ${unit}, got ${count}`);
}

/**
 * Patterns are RE2 and unanchored. RE2 syntax that JavaScript cannot compile (inline flags such
 * as `(?i)`, possessive forms) is reported as unsupported rather than skipped.
 */
function checkPattern(rule: string, pattern: string, value: string, report: Report): void {
  const regex = compilePattern(pattern);
  if (!regex) report('unsupported', `rule ${rule} ${JSON.stringify(pattern)} cannot be evaluated as a JavaScript regular expression`);
  else if (!regex.test(value)) report(rule, `must match ${JSON.stringify(pattern)}, got ${JSON.stringify(value)}`);
}

/** An RE2 pattern as a JavaScript RegExp, or undefined where the syntaxes differ. */
export function compilePattern(pattern: string): RegExp | undefined {
  for (const flags of ['u', '']) {
    try {
      return new RegExp(pattern, flags);
    } catch {
      // Try without the Unicode flag, which rejects some escapes RE2 accepts.
    }
  }
  return undefined;
}
