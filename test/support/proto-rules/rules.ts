import type protobuf from 'protobufjs';
import { isPlainObject } from './values.js';

/**
 * Reads protoc-gen-validate annotations as protobufjs 7 keeps them.
 *
 * protobufjs stores an option twice: flattened under `options` with dotted keys
 * (`'(validate.rules).string.min_len': 1`) and structured under `parsedOptions`
 * (`[{ '(validate.rules)': { string: { min_len: 1 } } }]`). Aggregate options written as a
 * text-format message (`(validate.rules).duration = {gt: {}}`) appear only in `parsedOptions`,
 * so that is the source of truth; the flat form is the fallback. A repeated rule written once
 * (`not_in: 0`) is a scalar, written several times (`in: "a" in: "b"`) an array.
 */

/** One `validate.FieldRules` value: rule kind (`string`, `uint32`, `repeated`, ...) to its rules. */
export type FieldRules = Readonly<Record<string, RuleSet>>;
/** The rules of one kind, e.g. `{ min_len: 1, well_known_regex: 'HTTP_HEADER_NAME' }`. */
export type RuleSet = Readonly<Record<string, unknown>>;

const RULES_OPTION = '(validate.rules)';
const ONEOF_REQUIRED_OPTION = '(validate.required)';
const MESSAGE_DISABLED_OPTIONS = ['(validate.disabled)', '(validate.ignored)'];

export function fieldRulesOf(field: protobuf.Field): FieldRules {
  const parsed = optionValues(field.parsedOptions, RULES_OPTION);
  const structured = parsed.length > 0 ? parsed.reduce(deepMerge, {}) : unflatten(field.options, RULES_OPTION);
  return asFieldRules(structured);
}

/** Whether the oneof carries `option (validate.required) = true`. */
export function isOneofRequired(oneof: protobuf.OneOf): boolean {
  return optionIsTrue(oneof.options, oneof.parsedOptions, ONEOF_REQUIRED_OPTION);
}

/** Whether the message opts out of validation (`option (validate.disabled) = true` or `ignored`). */
export function isMessageValidationDisabled(type: protobuf.Type): boolean {
  return MESSAGE_DISABLED_OPTIONS.some((name) => optionIsTrue(type.options, type.parsedOptions, name));
}

/** A repeated rule (`in`, `not_in`) as a list, whether it was written once or several times. */
export function listRule(value: unknown): readonly unknown[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** Nested rules (`repeated.items`, `map.keys`, `map.values`) as FieldRules. */
export function nestedFieldRules(value: unknown): FieldRules {
  return asFieldRules(isPlainObject(value) ? value : {});
}

function asFieldRules(value: Record<string, unknown>): FieldRules {
  const rules: Record<string, RuleSet> = {};
  for (const [kind, set] of Object.entries(value)) {
    // A kind whose rules are not a message (malformed annotation) is kept so it is reported.
    rules[kind] = isPlainObject(set) ? set : { [String(set)]: true };
  }
  return rules;
}

function optionValues(parsedOptions: unknown, name: string): Record<string, unknown>[] {
  if (!Array.isArray(parsedOptions)) return [];
  const values: Record<string, unknown>[] = [];
  for (const entry of parsedOptions) {
    if (isPlainObject(entry) && isPlainObject(entry[name])) values.push(entry[name]);
  }
  return values;
}

function optionIsTrue(
  options: Record<string, unknown> | undefined,
  parsedOptions: unknown,
  name: string,
): boolean {
  if (options?.[name] === true) return true;
  if (!Array.isArray(parsedOptions)) return false;
  return parsedOptions.some((entry: unknown) => isPlainObject(entry) && entry[name] === true);
}

function unflatten(options: Record<string, unknown> | undefined, name: string): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  const prefix = `${name}.`;
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!key.startsWith(prefix)) continue;
    const pathParts = key.slice(prefix.length).split('.');
    let node = result;
    for (const part of pathParts.slice(0, -1)) {
      const child = node[part];
      node = isPlainObject(child) ? child : (node[part] = {});
    }
    node[pathParts[pathParts.length - 1]] = value;
  }
  return result;
}

function deepMerge(target: Record<string, unknown>, source: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...target };
  for (const [key, value] of Object.entries(source)) {
    const existing = merged[key];
    merged[key] = isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value;
  }
  return merged;
}
