import protobuf from 'protobufjs';
import type { Problem, Report } from './problem.js';
import { reportUnsupportedRules } from './supported.js';
import { isMessageValidationDisabled, isOneofRequired, nestedFieldRules, type FieldRules, type RuleSet } from './rules.js';
import {
  checkBoolRules,
  checkBytesRules,
  checkCount,
  checkEnumRules,
  checkFloatRules,
  checkIntegerRules,
  checkStringRules,
} from './scalar-rules.js';
import {
  SPECIAL_JSON_TYPES,
  WRAPPER_SCALARS,
  fullNameOf,
  mapKeyAsValue,
  parseScalar,
  scalarDefault,
  specificRuleKind,
  valueTypeOf,
  type ScalarValue,
  type ValueType,
} from './value-types.js';
import { isFloatKind, isIntegerKind, isPlainObject, parseDuration, parseTimestamp } from './values.js';
import { checkAnyRules, checkDurationRules, checkTimestampRules } from './wkt-rules.js';

export interface WalkOptions {
  /** The current time, needed only by timestamp `lt_now`, `gt_now` and `within` rules. */
  readonly now?: Date;
  /** Also report fields marked `deprecated` that are set (rule `deprecated`). */
  readonly reportDeprecated?: boolean;
}

/** toObject options giving the proto-JSON shapes the checker reads. */
export const DECODED_FORM: Readonly<protobuf.IConversionOptions> = { longs: String, enums: String, bytes: String };

const NO_RULES: FieldRules = {};

/**
 * One walk over one object in proto-JSON form, collecting problems as it goes: structure and
 * value types from the message descriptors, rules from the validate annotations.
 */
export class Walk {
  constructor(
    private readonly root: protobuf.Root,
    private readonly rulesOf: (field: protobuf.Field) => FieldRules,
    private readonly options: WalkOptions,
    private readonly problems: Problem[],
  ) {}

  private reporter(path: string): Report {
    return (rule, message) => this.problems.push({ path, rule, message });
  }

  /** A message value. `rulesOn` is false below a `message.skip` or a disabled message. */
  message(type: protobuf.Type, value: unknown, path: string, rulesOn: boolean): void {
    const report = this.reporter(path);
    const name = fullNameOf(type);
    if (SPECIAL_JSON_TYPES.includes(name)) {
      this.specialJson(name, value, path, rulesOn);
      return;
    }
    if (!isPlainObject(value)) {
      report('type', `expected an object (${name}), got ${describe(value)}`);
      return;
    }
    const rulesApply = rulesOn && !isMessageValidationDisabled(type);
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(type.fields, key)) this.reporter(join(path, key))('unknown_field', `${name} has no field "${key}"`);
    }
    for (const field of type.fieldsArray) {
      this.field(field, value, join(path, field.name), rulesApply);
      if (this.options.reportDeprecated && field.options?.deprecated === true && isPresent(value, field.name)) {
        this.reporter(join(path, field.name))('deprecated', `${name}.${field.name} is deprecated`);
      }
    }
    for (const oneof of type.oneofsArray) {
      const set = oneof.oneof.filter((member) => isPresent(value, member));
      if (set.length > 1) {
        this.reporter(join(path, oneof.name))('oneof.multiple', `only one of ${set.join(', ')} may be set`);
      } else if (set.length === 0 && rulesApply && isOneofRequired(oneof)) {
        this.reporter(join(path, oneof.name))('oneof.required', `one of ${oneof.oneof.join(', ')} is required`);
      }
    }
  }

  private field(field: protobuf.Field, container: Record<string, unknown>, path: string, rulesOn: boolean): void {
    const rules = rulesOn ? this.rulesOf(field) : NO_RULES;
    const present = isPresent(container, field.name);
    const raw = container[field.name];
    const valueType = valueTypeOf(field);
    if (field instanceof protobuf.MapField) {
      this.map(field, valueType, present ? raw : {}, rules, path, rulesOn);
    } else if (field.repeated) {
      this.list(valueType, present ? raw : [], rules, path, rulesOn);
    } else {
      this.value(valueType, present, raw, rules, path, { rulesOn, hasPresence: field.partOf !== null && field.partOf !== undefined });
    }
  }

  private list(valueType: ValueType, raw: unknown, rules: FieldRules, path: string, rulesOn: boolean): void {
    const report = this.reporter(path);
    if (!Array.isArray(raw)) {
      report('type', `expected a list, got ${describe(raw)}`);
      return;
    }
    const { repeated = {}, ...others } = rules;
    reportInapplicableKinds(others, 'a repeated field', report);
    reportUnsupportedRules('repeated', repeated, report);
    const skipRules = repeated.ignore_empty === true && raw.length === 0;
    if (!skipRules) {
      checkCount('repeated.min_items', raw.length, 'items', repeated.min_items, 'at least', report);
      checkCount('repeated.max_items', raw.length, 'items', repeated.max_items, 'at most', report);
      if (repeated.unique === true) {
        const seen = new Set<string>();
        raw.forEach((item: unknown, index) => {
          const key = uniquenessKey(valueType, item);
          if (seen.has(key)) this.reporter(`${path}[${index}]`)('repeated.unique', `duplicate item ${key}`);
          seen.add(key);
        });
      }
    }
    const itemRules = nestedFieldRules(repeated.items);
    raw.forEach((item: unknown, index) => {
      const itemPath = `${path}[${index}]`;
      if (item === null || item === undefined) this.reporter(itemPath)('type', 'list items cannot be null');
      else this.value(valueType, true, item, itemRules, itemPath, { rulesOn, hasPresence: true });
    });
  }

  private map(field: protobuf.MapField, valueType: ValueType, raw: unknown, rules: FieldRules, path: string, rulesOn: boolean): void {
    const report = this.reporter(path);
    if (!isPlainObject(raw)) {
      report('type', `expected an object (map), got ${describe(raw)}`);
      return;
    }
    const { map = {}, ...others } = rules;
    reportInapplicableKinds(others, 'a map field', report);
    reportUnsupportedRules('map', map, report);
    const entries = Object.entries(raw);
    if (!(map.ignore_empty === true && entries.length === 0)) {
      checkCount('map.min_pairs', entries.length, 'pairs', map.min_pairs, 'at least', report);
      checkCount('map.max_pairs', entries.length, 'pairs', map.max_pairs, 'at most', report);
    }
    const keyRules = nestedFieldRules(map.keys);
    const valueRules = nestedFieldRules(map.values);
    for (const [key, value] of entries) {
      const entryPath = `${path}[${JSON.stringify(key)}]`;
      const keyType: ValueType = { kind: 'scalar', scalar: field.keyType };
      this.value(keyType, true, mapKeyAsValue(field.keyType, key), keyRules, entryPath, { rulesOn, hasPresence: true, isMapKey: true });
      if (value === null || value === undefined) {
        if (map.no_sparse === true) this.reporter(entryPath)('map.no_sparse', 'map values cannot be unset');
        continue;
      }
      this.value(valueType, true, value, valueRules, entryPath, { rulesOn, hasPresence: true });
    }
  }

  /** One singular value with its field rules; `present` is false for an absent field. */
  private value(valueType: ValueType, present: boolean, raw: unknown, rules: FieldRules, path: string, how: ValueContext): void {
    if (valueType.kind === 'message') this.messageField(valueType.messageType, present, raw, rules, path, how);
    else if (valueType.kind === 'enum') this.enumValue(valueType.enumType, present, raw, rules, path, how);
    else this.scalarValue(valueType.scalar, present, raw, rules, path, how);
  }

  private messageField(type: protobuf.Type, present: boolean, raw: unknown, rules: FieldRules, path: string, how: ValueContext): void {
    const report = this.reporter(path);
    // Rules on a oneof member apply only to the member that is set.
    if (!present && how.hasPresence) return;
    const name = fullNameOf(type);
    const wrapped = WRAPPER_SCALARS[name];
    const specificKind = specificRuleKind(name);
    const { message: messageRules = {}, ...kindRules } = rules;
    const { [specificKind ?? '']: specific, ...others } = kindRules;
    reportInapplicableKinds(others, `a ${name} field`, report);
    reportUnsupportedRules('message', messageRules, report);

    if (!present) {
      if (messageRules.required === true) report('message.required', `${name} is required`);
      else if (specific?.required === true) report(`${specificKind}.required`, `${name} is required`);
      return;
    }
    const skip = messageRules.skip === true;
    this.message(type, raw, path, how.rulesOn && !skip);
    if (!specific) return;
    if (specificKind === 'duration') {
      const nanos = parseDuration(raw);
      if (nanos !== undefined) checkDurationRules(nanos, specific, report);
    } else if (specificKind === 'timestamp') {
      const nanos = parseTimestamp(raw);
      if (nanos !== undefined) checkTimestampRules(nanos, specific, this.options.now, report);
    } else if (specificKind === 'any') {
      const typeUrl = isPlainObject(raw) ? (raw['@type'] ?? raw.type_url) : undefined;
      if (typeof typeUrl === 'string') checkAnyRules(typeUrl, specific, report);
    } else if (wrapped !== undefined && isPlainObject(raw)) {
      const inner = parseScalar(wrapped, raw.value ?? scalarDefault(wrapped));
      if (inner !== undefined) applyScalarRules(wrapped, inner, specific, report);
    }
  }

  private enumValue(enumType: protobuf.Enum, present: boolean, raw: unknown, rules: FieldRules, path: string, how: ValueContext): void {
    const report = this.reporter(path);
    if (!present && how.hasPresence) return;
    const value = present ? raw : 0;
    let number: number;
    if (typeof value === 'string') {
      const found = enumType.values[value];
      if (found === undefined) {
        report('enum.unknown_name', `${JSON.stringify(value)} is not a value of ${fullNameOf(enumType)} (${Object.keys(enumType.values).join(', ')})`);
        return;
      }
      number = found;
    } else if (typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 2 ** 31) {
      number = value;
    } else {
      report('type', `expected an enum name of ${fullNameOf(enumType)}, got ${describe(value)}`);
      return;
    }
    const { enum: enumRules, ...others } = rules;
    reportInapplicableKinds(others, 'an enum field', report);
    if (enumRules) checkEnumRules(number, Object.values(enumType.values), enumRules, report);
  }

  private scalarValue(scalar: string, present: boolean, raw: unknown, rules: FieldRules, path: string, how: ValueContext): void {
    const report = this.reporter(path);
    if (!present && how.hasPresence) return;
    const value = parseScalar(scalar, present ? raw : scalarDefault(scalar));
    if (value === undefined) {
      report('type', `expected ${how.isMapKey ? 'a map key of type ' : ''}${scalar}, got ${describe(raw)}`);
      return;
    }
    const { [scalar]: own, ...others } = rules;
    reportInapplicableKinds(others, `a ${scalar} field`, report);
    if (own) applyScalarRules(scalar, value, own, report);
  }

  /** Types whose proto-JSON form is special: Any, Duration, Timestamp, wrappers, Struct and friends. */
  private specialJson(name: string, value: unknown, path: string, rulesOn: boolean): void {
    const report = this.reporter(path);
    const wrapped = WRAPPER_SCALARS[name];
    if (name === 'google.protobuf.Any') this.any(value, path, rulesOn);
    else if (name === 'google.protobuf.Duration') {
      if (parseDuration(value) === undefined) report('type', `expected a duration ("1.5s" or {seconds, nanos}), got ${describe(value)}`);
    } else if (name === 'google.protobuf.Timestamp') {
      if (parseTimestamp(value) === undefined) report('type', `expected a timestamp (RFC 3339 or {seconds, nanos}), got ${describe(value)}`);
    } else if (wrapped !== undefined) {
      if (!isPlainObject(value) || Object.keys(value).some((key) => key !== 'value')) {
        report('type', `expected {value} for ${name}, got ${describe(value)}`);
      } else if (isPresent(value, 'value') && parseScalar(wrapped, value.value) === undefined) {
        this.reporter(join(path, 'value'))('type', `expected ${wrapped}, got ${describe(value.value)}`);
      }
    } else if (name === 'google.protobuf.Struct') {
      if (!isPlainObject(value)) report('type', `expected a JSON object (Struct), got ${describe(value)}`);
    } else if (name === 'google.protobuf.ListValue') {
      if (!Array.isArray(value)) report('type', `expected a JSON array (ListValue), got ${describe(value)}`);
    } else if (name === 'google.protobuf.FieldMask') {
      const ok = typeof value === 'string' || (isPlainObject(value) && Array.isArray(value.paths) && value.paths.every((p) => typeof p === 'string'));
      if (!ok) report('type', `expected a field mask, got ${describe(value)}`);
    }
    // google.protobuf.Value is any JSON value.
  }

  /** An Any, as `{"@type": url, ...fields}` or packed as `{type_url, value}`; its contents are checked too. */
  private any(value: unknown, path: string, rulesOn: boolean): void {
    const report = this.reporter(path);
    if (!isPlainObject(value)) {
      report('type', `expected an Any object, got ${describe(value)}`);
      return;
    }
    if (!Object.hasOwn(value, '@type') && Object.hasOwn(value, 'type_url')) {
      this.packedAny(value, path, rulesOn);
      return;
    }
    const { '@type': typeUrl, ...rest } = value;
    if (typeof typeUrl !== 'string') {
      report('type', 'an Any needs a string "@type"');
      return;
    }
    const type = this.lookupAnyType(typeUrl, report);
    if (!type) return;
    if (SPECIAL_JSON_TYPES.includes(fullNameOf(type))) {
      for (const key of Object.keys(rest)) {
        if (key !== 'value') this.reporter(join(path, key))('unknown_field', `an Any holding ${fullNameOf(type)} has only "value", not "${key}"`);
      }
      this.message(type, rest.value, join(path, 'value'), rulesOn);
    } else {
      this.message(type, rest, path, rulesOn);
    }
  }

  private packedAny(value: Record<string, unknown>, path: string, rulesOn: boolean): void {
    const report = this.reporter(path);
    for (const key of Object.keys(value)) {
      if (key !== 'type_url' && key !== 'value') this.reporter(join(path, key))('unknown_field', `google.protobuf.Any has no field "${key}"`);
    }
    const typeUrl = value.type_url;
    const bytes = parseScalar('bytes', value.value ?? '');
    if (typeof typeUrl !== 'string' || !(bytes instanceof Uint8Array)) {
      report('type', 'a packed Any needs a string type_url and bytes value');
      return;
    }
    const type = this.lookupAnyType(typeUrl, report);
    if (!type) return;
    let decoded: Record<string, unknown>;
    try {
      decoded = type.toObject(type.decode(bytes), DECODED_FORM);
    } catch (error) {
      report('type', `value does not decode as ${fullNameOf(type)}: ${errorMessage(error)}`);
      return;
    }
    this.message(type, decoded, path, rulesOn);
  }

  private lookupAnyType(typeUrl: string, report: Report): protobuf.Type | undefined {
    const name = typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
    const found = name ? this.root.lookup(name) : null;
    if (found instanceof protobuf.Type) return found;
    report('any.unknown_type', `type ${JSON.stringify(typeUrl)} is not a message type known to the loaded protos`);
    return undefined;
  }
}

interface ValueContext {
  readonly rulesOn: boolean;
  /** Whether absence is distinguishable from the default (oneof members, optional, list items). */
  readonly hasPresence: boolean;
  readonly isMapKey?: boolean;
}

function applyScalarRules(scalar: string, value: ScalarValue, rules: RuleSet, report: Report): void {
  if (isIntegerKind(scalar) && typeof value === 'bigint') checkIntegerRules(scalar, value, rules, report);
  else if (isFloatKind(scalar) && typeof value === 'number') checkFloatRules(scalar, value, rules, report);
  else if (typeof value === 'boolean') checkBoolRules(value, rules, report);
  else if (typeof value === 'string') checkStringRules(value, rules, report);
  else if (value instanceof Uint8Array) checkBytesRules(value, rules, report);
  else report('unsupported', `no rules for ${scalar}`);
}

/** Rule kinds annotated on a field they cannot apply to: the annotation is not understood. */
function reportInapplicableKinds(kinds: FieldRules, what: string, report: Report): void {
  for (const kind of Object.keys(kinds)) report('unsupported', `rule kind ${kind} does not apply to ${what}`);
}

function isPresent(container: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(container, key) && container[key] !== null && container[key] !== undefined;
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Uint8Array) return 'bytes';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return `${typeof value} ${String(value)}`;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Equal values get equal keys, however they are spelled ("5" and 5 for an int64, a name or number for an enum). */
function uniquenessKey(valueType: ValueType, item: unknown): string {
  if (valueType.kind === 'scalar') {
    const parsed = parseScalar(valueType.scalar, item);
    if (parsed instanceof Uint8Array) return Buffer.from(parsed).toString('base64');
    if (parsed !== undefined) return String(parsed);
  }
  if (valueType.kind === 'enum' && typeof item === 'string' && valueType.enumType.values[item] !== undefined) {
    return String(valueType.enumType.values[item]);
  }
  return JSON.stringify(item, (_key, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? String(item);
}
