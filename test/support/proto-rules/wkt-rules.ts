import { checkOrdered, compareBigInts } from './ordered.js';
import type { Report } from './problem.js';
import { reportUnsupportedRules } from './supported.js';
import { listRule, type RuleSet } from './rules.js';
import { formatDuration, formatTimestamp, parseDuration, parseTimestamp } from './values.js';

/** Rules on google.protobuf.Duration, Timestamp and Any fields, applied once the field is set. */

const DURATION_ORDER = { parseBound: parseDuration, compare: compareBigInts, format: formatDuration };

export function checkDurationRules(nanos: bigint, rules: RuleSet, report: Report): void {
  reportUnsupportedRules('duration', rules, report);
  checkOrdered('duration', nanos, rules, DURATION_ORDER, report);
}

export function checkTimestampRules(nanos: bigint, rules: RuleSet, now: Date | undefined, report: Report): void {
  reportUnsupportedRules('timestamp', rules, report);
  const { in: _in, not_in: _notIn, ...ordered } = rules;
  checkOrdered('timestamp', nanos, ordered, { parseBound: parseTimestamp, compare: compareBigInts, format: formatTimestamp }, report);

  const relative = ['lt_now', 'gt_now', 'within'].filter((name) => rules[name] !== undefined && rules[name] !== false);
  if (relative.length === 0) return;
  if (now === undefined) {
    for (const name of relative) report('unsupported', `rule timestamp.${name} needs the current time; pass options.now`);
    return;
  }
  const nowNanos = BigInt(now.getTime()) * 1_000_000n;
  if (rules.lt_now === true && !(nanos < nowNanos) && rules.within === undefined) report('timestamp.lt_now', 'must be in the past');
  if (rules.gt_now === true && !(nanos > nowNanos) && rules.within === undefined) report('timestamp.gt_now', 'must be in the future');
  if (rules.within !== undefined) {
    const window = parseDuration(rules.within);
    if (window === undefined) {
      report('unsupported', 'rule timestamp.within has an unreadable duration');
      return;
    }
    const distance = nanos > nowNanos ? nanos - nowNanos : nowNanos - nanos;
    if (distance > window) report('timestamp.within', `must be within ${formatDuration(window)} of now`);
    // Combined with lt_now / gt_now, `within` bounds the window on that side only.
    if (rules.lt_now === true && !(nanos < nowNanos)) report('timestamp.lt_now', 'must be in the past');
    if (rules.gt_now === true && !(nanos > nowNanos)) report('timestamp.gt_now', 'must be in the future');
  }
}

/** Any rules on the packed message's type URL. */
export function checkAnyRules(typeUrl: string, rules: RuleSet, report: Report): void {
  reportUnsupportedRules('any', rules, report);
  const allowed = listRule(rules.in);
  if (rules.in !== undefined && !allowed.includes(typeUrl)) report('any.in', `type ${typeUrl} is not one of ${JSON.stringify(allowed)}`);
  const forbidden = listRule(rules.not_in);
  if (forbidden.includes(typeUrl)) report('any.not_in', `type ${typeUrl} is not allowed here`);
}
