/**
 * One canonical form for a protobuf message, whichever JSON-ish form it arrives in: the object
 * form the translator writes (durations as `{seconds}`, wrappers as `{value}`) or the proto3 JSON
 * Envoy's admin API prints (`"5s"`, bare wrapper values, int64 as strings, defaults omitted).
 * Two values are the same message exactly when their canonical forms are deeply equal.
 *
 * Canonical: plain scalars at their default are dropped (proto3 has no presence for them);
 * message fields and oneof members are kept when set (presence is part of the meaning); empty
 * lists and maps are dropped; integers are decimal strings, durations `<nanos>ns`, enums names,
 * map keys sorted, Any `{ '@type', value }`. Keys that are not fields of the type are kept under
 * `?unknown:<key>` so a comparison shows them.
 */
import protobuf from 'protobufjs';
import { WRAPPER_SCALARS } from './proto-rules/value-types.js';
import { isIntegerKind } from './proto-rules/values.js';


type Json = unknown;

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function fullName(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, '');
}

export class ProtoCanonicalizer {
  constructor(private readonly root: protobuf.Root) {}

  /** The canonical form of `value` as the message `typeName` (full name, or a type URL). */
  canonical(typeName: string, value: unknown): Json {
    return this.message(this.root.lookupType(typeName.slice(typeName.lastIndexOf('/') + 1)), value, typeName);
  }

  private message(type: protobuf.Type, value: unknown, path: string): Json {
    const name = fullName(type);
    if (name === 'google.protobuf.Duration') return durationNanos(value, path);
    if (name in WRAPPER_SCALARS) return this.scalar(WRAPPER_SCALARS[name], isObject(value) ? (value.value ?? defaultOf(WRAPPER_SCALARS[name])) : value, path);
    if (name === 'google.protobuf.Any') return this.any(value, path);
    if (name === 'google.protobuf.Struct' || name === 'google.protobuf.Value' || name === 'google.protobuf.ListValue') {
      throw new Error(`${path}: ${name} is not supported by the canonical form yet`);
    }
    if (!isObject(value)) throw new Error(`${path}: expected an object for ${name}, got ${JSON.stringify(value)}`);
    const result: Record<string, Json> = {};
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(type.fields, key)) result[`?unknown:${key}`] = value[key];
    }
    for (const field of type.fieldsArray) {
      const raw = value[field.name];
      if (raw === undefined || raw === null) continue;
      const fieldPath = `${path}.${field.name}`;
      if (field.map) {
        if (!isObject(raw)) throw new Error(`${fieldPath}: expected a map object`);
        const keys = Object.keys(raw).sort();
        if (keys.length === 0) continue;
        const map: Record<string, Json> = {};
        for (const key of keys) map[key] = this.element(field, raw[key], `${fieldPath}[${key}]`);
        result[field.name] = map;
      } else if (field.repeated) {
        if (!Array.isArray(raw)) throw new Error(`${fieldPath}: expected a list`);
        if (raw.length === 0) continue;
        result[field.name] = raw.map((item, i) => this.element(field, item, `${fieldPath}[${i}]`));
      } else {
        const canonicalValue = this.element(field, raw, fieldPath);
        const hasPresence = field.resolvedType instanceof protobuf.Type || field.partOf !== null;
        if (!hasPresence && canonicalValue === this.defaultFor(field)) continue;
        result[field.name] = canonicalValue;
      }
    }
    return result;
  }

  private element(field: protobuf.Field, value: unknown, path: string): Json {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, path);
    if (resolved instanceof protobuf.Enum) return enumName(resolved, value, path);
    return this.scalar(field.type, value, path);
  }

  private defaultFor(field: protobuf.Field): Json {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Enum) return enumName(resolved, 0, field.name);
    return this.scalar(field.type, defaultOf(field.type), field.name);
  }

  private scalar(kind: string, value: unknown, path: string): Json {
    if (isIntegerKind(kind)) {
      if (typeof value !== 'number' && typeof value !== 'string' && typeof value !== 'bigint') throw new Error(`${path}: expected an integer, got ${JSON.stringify(value)}`);
      return BigInt(value).toString();
    }
    if (kind === 'double' || kind === 'float') return Number(value);
    if (kind === 'bool') {
      if (typeof value !== 'boolean') throw new Error(`${path}: expected a boolean, got ${JSON.stringify(value)}`);
      return value;
    }
    if (kind === 'string' || kind === 'bytes') {
      if (typeof value !== 'string') throw new Error(`${path}: expected a string, got ${JSON.stringify(value)}`);
      return value;
    }
    throw new Error(`${path}: unknown scalar kind ${kind}`);
  }

  private any(value: unknown, path: string): Json {
    if (!isObject(value) || typeof value['@type'] !== 'string') throw new Error(`${path}: an Any needs "@type"`);
    const typeUrl = value['@type'];
    const inner = this.root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
    const innerName = fullName(inner);
    const { '@type': _type, ...fields } = value;
    const special = innerName === 'google.protobuf.Duration' || innerName in WRAPPER_SCALARS;
    return { '@type': typeUrl, value: this.message(inner, special ? fields.value : fields, `${path}<${innerName}>`) };
  }
}

function defaultOf(kind: string): unknown {
  if (kind === 'bool') return false;
  if (kind === 'string' || kind === 'bytes') return '';
  return 0;
}

function enumName(type: protobuf.Enum, value: unknown, path: string): string {
  if (typeof value === 'string' && value in type.values) return value;
  if (typeof value === 'number' && type.valuesById[value] !== undefined) return type.valuesById[value];
  throw new Error(`${path}: ${JSON.stringify(value)} is not a value of ${fullName(type)}`);
}

/** A Duration as `"<total nanoseconds>ns"`, from `"1.5s"` or `{ seconds, nanos }`. */
function durationNanos(value: unknown, path: string): string {
  if (typeof value === 'string') {
    const match = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(value);
    if (!match) throw new Error(`${path}: "${value}" is not a proto-JSON duration`);
    const nanos = BigInt(match[2]) * 1_000_000_000n + BigInt((match[3] ?? '').padEnd(9, '0') || '0');
    return `${match[1] === '-' ? -nanos : nanos}ns`;
  }
  if (isObject(value)) {
    const seconds = BigInt((value.seconds as number | string | undefined) ?? 0);
    const nanos = BigInt((value.nanos as number | string | undefined) ?? 0);
    return `${seconds * 1_000_000_000n + nanos}ns`;
  }
  throw new Error(`${path}: expected a duration, got ${JSON.stringify(value)}`);
}

/**
 * Where `actual` fails to hold `expected` (both canonical): every key and list element of
 * `expected` must be in `actual` with the same value; `actual` may have more keys. Lists must have
 * the same length. Empty when it holds.
 */
export function missingFrom(expected: unknown, actual: unknown, path = ''): string[] {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
    return expected.flatMap((item, i) => missingFrom(item, actual[i], `${path}[${i}]`));
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return [`${path}: expected an object, got ${JSON.stringify(actual)}`];
    return Object.entries(expected).flatMap(([key, value]) =>
      key in actual ? missingFrom(value, actual[key], `${path}.${key}`) : [`${path}.${key}: missing (expected ${JSON.stringify(value)})`],
    );
  }
  return expected === actual ? [] : [`${path}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`];
}

/** Where two canonical values differ: what `actual` lacks or has wrong, then what it has in addition. */
export function differences(expected: unknown, actual: unknown): string[] {
  return [...missingFrom(expected, actual), ...missingFrom(actual, expected).filter((line) => line.includes(': missing')).map((line) => line.replace(': missing (expected', ': unexpected (got'))];
}
