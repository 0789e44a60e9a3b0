import { STRING_FORMATS } from './formats.js';
import type { Report } from './problem.js';

const ORDERED = ['const', 'lt', 'lte', 'gt', 'gte', 'in', 'not_in'];
const NUMERIC = [...ORDERED, 'ignore_empty'];

/**
 * Every validate rule this checker evaluates, by rule kind. Anything else found in an
 * annotation is reported as `unsupported`, at check time and by `auditAnnotations`.
 */
export const SUPPORTED_RULES: Readonly<Record<string, readonly string[]>> = {
  float: NUMERIC,
  double: NUMERIC,
  int32: NUMERIC,
  int64: NUMERIC,
  uint32: NUMERIC,
  uint64: NUMERIC,
  sint32: NUMERIC,
  sint64: NUMERIC,
  fixed32: NUMERIC,
  fixed64: NUMERIC,
  sfixed32: NUMERIC,
  sfixed64: NUMERIC,
  bool: ['const'],
  string: [
    'const',
    'len',
    'min_len',
    'max_len',
    'len_bytes',
    'min_bytes',
    'max_bytes',
    'pattern',
    'prefix',
    'suffix',
    'contains',
    'not_contains',
    'in',
    'not_in',
    ...STRING_FORMATS,
    'well_known_regex',
    'strict',
    'ignore_empty',
  ],
  bytes: ['const', 'len', 'min_len', 'max_len', 'pattern', 'prefix', 'suffix', 'contains', 'in', 'not_in', 'ip', 'ipv4', 'ipv6', 'ignore_empty'],
  enum: ['const', 'defined_only', 'in', 'not_in'],
  message: ['required', 'skip'],
  repeated: ['min_items', 'max_items', 'unique', 'items', 'ignore_empty'],
  map: ['min_pairs', 'max_pairs', 'no_sparse', 'keys', 'values', 'ignore_empty'],
  any: ['required', 'in', 'not_in'],
  duration: ['required', ...ORDERED],
  timestamp: ['required', 'const', 'lt', 'lte', 'gt', 'gte', 'lt_now', 'gt_now', 'within'],
};

/** Reports every rule of one kind's set that this checker does not evaluate. */
export function reportUnsupportedRules(kind: string, rules: Readonly<Record<string, unknown>>, report: Report): void {
  const supported = SUPPORTED_RULES[kind] ?? [];
  for (const name of Object.keys(rules)) {
    if (!supported.includes(name)) report('unsupported', `rule ${kind}.${name} is not supported by this checker`);
  }
}
