import protobuf from 'protobufjs';
import { TypeUrl, type EncodedResource } from './contract.js';
import { encodeAny } from './wire.js';
import { contentVersion } from './versions.js';

export interface EncodingProblem {
  readonly path: string;
  readonly message: string;
}

/** A resource could not be encoded; `problems` lists every unknown field and wrong type with its path. */
export class ResourceEncodingError extends Error {
  constructor(
    readonly typeUrl: string,
    readonly resourceName: string,
    readonly problems: readonly EncodingProblem[],
  ) {
    super(
      `cannot encode ${typeUrl} "${resourceName}": ` +
        problems.map((problem) => `${problem.path || '(root)'}: ${problem.message}`).join('; '),
    );
    this.name = 'ResourceEncodingError';
  }
}

type PlainObject = Record<string, unknown>;

interface TypeFields {
  /** By proto field name; for google.protobuf types (camelCase in protobufjs) also by snake_case name. */
  readonly byKey: ReadonlyMap<string, protobuf.Field>;
  /** Oneofs of two or more members (a proto3 `optional` is a oneof of one). */
  readonly oneofs: readonly { readonly name: string; readonly members: readonly string[] }[];
}

/** Type URLs remembered (found or not): far more than the Envoy API has, so a flood of made-up ones cannot grow it. */
const MAX_CACHED_TYPE_URLS = 4096;

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;
const UINT32_MAX = 4294967295;
const INTEGER_STRING = /^-?\d+$/;
const UNSIGNED_STRING = /^\d+$/;
const DURATION_STRING = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;
/**
 * Scalar types whose string spellings ("42", "NaN") protobufjs' encoder does not convert itself;
 * 64-bit integers stay strings (its encoder parses them exactly), bytes stay base64 (it decodes them).
 */
const NUMERIC_FROM_STRING = new Set(['int32', 'sint32', 'sfixed32', 'uint32', 'fixed32', 'double', 'float']);
const WRAPPER_TYPES = new Set([
  '.google.protobuf.DoubleValue',
  '.google.protobuf.FloatValue',
  '.google.protobuf.Int64Value',
  '.google.protobuf.UInt64Value',
  '.google.protobuf.Int32Value',
  '.google.protobuf.UInt32Value',
  '.google.protobuf.BoolValue',
  '.google.protobuf.StringValue',
  '.google.protobuf.BytesValue',
]);
const VALUE_KINDS = new Set([
  'null_value', 'number_value', 'string_value', 'bool_value', 'struct_value', 'list_value',
  'nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue',
]);

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}

/** The ClusterLoadAssignment name an EDS cluster warms on; undefined for any other discovery type. */
function edsServiceName(name: string, cluster: Readonly<Record<string, unknown>>): string | undefined {
  if (cluster.type !== 'EDS' && cluster.type !== 3) return undefined;
  const config = cluster.eds_cluster_config as { service_name?: unknown } | undefined;
  return typeof config?.service_name === 'string' && config.service_name !== '' ? config.service_name : name;
}

/**
 * Where a value sits in the resource, for error messages. `undefined` in the first pass: a
 * resource is normalized without building a path string per field, and only one with problems is
 * walked again with paths to report them.
 */
type Path = string | undefined;

function join(path: Path, key: string): Path {
  if (path === undefined) return undefined;
  return path ? `${path}.${key}` : key;
}

function at(path: Path, index: number | string): Path {
  if (path === undefined) return undefined;
  return typeof index === 'number' ? `${path}[${index}]` : `${path}[${JSON.stringify(index)}]`;
}

function problemAt(problems: EncodingProblem[], path: Path, message: string): void {
  problems.push({ path: path ?? '', message });
}

/**
 * Encodes Envoy resources written as plain objects (proto field names) to `google.protobuf.Any`
 * bytes, once per content change. Unlike protobufjs' `fromObject`, it rejects unknown fields and
 * wrong types instead of silently dropping them, and it sorts map keys so equal content always
 * produces equal bytes (and therefore equal versions).
 */
export class ResourceEncoder {
  /** protobufjs computes `fullName` by walking parents on every read; encoding reads it per field. */
  private readonly fullNames = new WeakMap<protobuf.ReflectionObject, string>();
  private readonly typesByUrl = new Map<string, protobuf.Type | null>();
  private readonly typeFields = new WeakMap<protobuf.Type, TypeFields>();

  constructor(private readonly root: protobuf.Root) {}

  private nameOf(type: protobuf.ReflectionObject): string {
    let name = this.fullNames.get(type);
    if (name === undefined) {
      name = type.fullName;
      this.fullNames.set(type, name);
    }
    return name;
  }

  encode(typeUrl: string, name: string, message: Readonly<Record<string, unknown>>): EncodedResource {
    const problems: EncodingProblem[] = [];
    const type = this.typeForUrl(typeUrl);
    if (!type) throw new ResourceEncodingError(typeUrl, name, [{ path: '', message: `unknown type URL ${typeUrl}` }]);
    const normalized = this.normalizeMessage(type, message, undefined, problems);
    if (problems.length > 0) {
      const located: EncodingProblem[] = [];
      this.normalizeMessage(type, message, '', located);
      throw new ResourceEncodingError(typeUrl, name, located);
    }
    // Normalized values are what protobufjs' encoder takes (enum numbers, numeric 32-bit integers),
    // so no fromObject copy is made.
    const value = type.encode(normalized as PlainObject).finish();
    const any = encodeAny(typeUrl, value);
    const resource: EncodedResource = { name, typeUrl, version: contentVersion(any), any };
    const endpointsName = typeUrl === TypeUrl.Cluster ? edsServiceName(name, message) : undefined;
    // Only EDS clusters carry the field, so every other resource keeps the smaller shape.
    return endpointsName === undefined ? resource : { ...resource, endpointsName };
  }

  decode(resource: EncodedResource): Record<string, unknown> {
    const anyType = this.root.lookupType('google.protobuf.Any');
    const any = anyType.toObject(anyType.decode(resource.any)) as { type_url?: string; value?: Uint8Array };
    const typeUrl = any.type_url ?? '';
    const type = this.typeForUrl(typeUrl);
    if (!type) throw new Error(`decode: unknown type URL ${typeUrl} in resource "${resource.name}"`);
    const decoded = type.toObject(type.decode(any.value ?? new Uint8Array()), {
      enums: String,
      longs: String,
      bytes: String,
      defaults: false,
      json: true,
    });
    return snakeCaseWellKnownFields(decoded) as Record<string, unknown>;
  }

  private typeForUrl(typeUrl: string): protobuf.Type | undefined {
    // protobufjs walks its namespaces on every lookup; type URLs come from a small fixed set.
    const cached = this.typesByUrl.get(typeUrl);
    if (cached !== undefined) return cached ?? undefined;
    const slash = typeUrl.lastIndexOf('/');
    let type: protobuf.Type | null = null;
    if (slash >= 0) {
      try {
        type = this.root.lookupType(typeUrl.slice(slash + 1));
      } catch {
        type = null;
      }
    }
    if (this.typesByUrl.size < MAX_CACHED_TYPE_URLS) this.typesByUrl.set(typeUrl, type);
    return type ?? undefined;
  }

  /** A message type's fields by every spelling accepted for them, and its oneofs: computed once per type. */
  private fieldsOf(type: protobuf.Type): TypeFields {
    let info = this.typeFields.get(type);
    if (!info) {
      const byKey = new Map<string, protobuf.Field>();
      // protobufjs' built-in google.protobuf types use camelCase field names even with keepCase.
      const wellKnown = this.nameOf(type).startsWith('.google.protobuf.');
      for (const field of type.fieldsArray) {
        byKey.set(field.name, field);
        if (wellKnown) byKey.set(camelToSnake(field.name), field);
      }
      const oneofs = type.oneofsArray.filter((oneof) => oneof.oneof.length > 1).map((oneof) => ({ name: oneof.name, members: oneof.oneof }));
      info = { byKey, oneofs };
      this.typeFields.set(type, info);
    }
    return info;
  }

  private normalizeMessage(type: protobuf.Type, value: unknown, path: Path, problems: EncodingProblem[]): unknown {
    const fullName = this.nameOf(type);
    switch (fullName) {
      case '.google.protobuf.Any':
        return this.normalizeAny(value, path, problems);
      case '.google.protobuf.Duration':
        if (typeof value === 'string') return parseDuration(value, path, problems);
        break;
      case '.google.protobuf.Timestamp':
        if (typeof value === 'string') return parseTimestamp(value, path, problems);
        break;
      case '.google.protobuf.Struct':
        if (isPlainObject(value) && !looksLikeStructMessage(value)) {
          return this.normalizeFields(type, structFromJson(value, path, problems) as PlainObject, path, problems);
        }
        break;
      case '.google.protobuf.Value':
        if (!isPlainObject(value) || !looksLikeValueMessage(value)) {
          return this.normalizeFields(type, valueFromJson(value, path, problems) as PlainObject, path, problems);
        }
        break;
      case '.google.protobuf.ListValue':
        if (Array.isArray(value)) {
          const values = value.map((item, i) => valueFromJson(item, at(path, i), problems));
          return this.normalizeFields(type, { values }, path, problems);
        }
        break;
      default:
        if (WRAPPER_TYPES.has(fullName) && !isPlainObject(value)) {
          return this.normalizeMessage(type, { value }, path, problems);
        }
    }
    if (!isPlainObject(value)) {
      problemAt(problems, path, `expected an object (${fullName.slice(1)}), got ${describe(value)}`);
      return {};
    }
    return this.normalizeFields(type, value, path, problems);
  }

  private normalizeFields(type: protobuf.Type, value: PlainObject, path: Path, problems: EncodingProblem[]): PlainObject {
    const out: PlainObject = {};
    const { byKey, oneofs } = this.fieldsOf(type);
    for (const key of Object.keys(value)) {
      const fieldValue = value[key];
      if (fieldValue === undefined || fieldValue === null) continue;
      const field = byKey.get(key);
      const fieldPath = join(path, key);
      if (!field) {
        problemAt(problems, fieldPath, `unknown field of ${this.nameOf(type).slice(1)}`);
        continue;
      }
      out[field.name] = this.normalizeField(field, fieldValue, fieldPath, problems);
    }
    for (const oneof of oneofs) {
      let set = 0;
      for (const member of oneof.members) if (out[member] !== undefined) set += 1;
      if (set > 1) {
        const members = oneof.members.filter((member) => out[member] !== undefined);
        problemAt(problems, join(path, oneof.name), `only one of ${members.join(', ')} may be set`);
      }
    }
    return out;
  }

  private normalizeField(field: protobuf.Field, value: unknown, path: Path, problems: EncodingProblem[]): unknown {
    if (field instanceof protobuf.MapField) {
      if (!isPlainObject(value)) {
        problemAt(problems, path, `expected a map (object), got ${describe(value)}`);
        return {};
      }
      const out: PlainObject = {};
      for (const key of Object.keys(value).sort()) {
        const keyPath = at(path, key);
        checkMapKey(field.keyType, key, keyPath, problems);
        out[key] = this.normalizeSingle(field, value[key], keyPath, problems);
      }
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        problemAt(problems, path, `expected an array, got ${describe(value)}`);
        return [];
      }
      return value.map((item: unknown, index) => this.normalizeSingle(field, item, at(path, index), problems));
    }
    return this.normalizeSingle(field, value, path, problems);
  }

  private normalizeSingle(field: protobuf.Field, value: unknown, path: Path, problems: EncodingProblem[]): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.normalizeMessage(resolved, value, path, problems);
    if (resolved instanceof protobuf.Enum) {
      if (typeof value === 'string' && Object.hasOwn(resolved.values, value)) return resolved.values[value];
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      problemAt(problems, path, `expected one of ${Object.keys(resolved.values).join(', ')} (${resolved.fullName.slice(1)}), got ${describe(value)}`);
      return value;
    }
    const problem = checkScalar(field.type, value);
    if (problem) problemAt(problems, path, problem);
    return typeof value === 'string' && NUMERIC_FROM_STRING.has(field.type) ? Number(value) : value;
  }

  private normalizeAny(value: unknown, path: Path, problems: EncodingProblem[]): unknown {
    if (!isPlainObject(value)) {
      problemAt(problems, path, `expected an object with "@type", got ${describe(value)}`);
      return {};
    }
    const typeUrl = value['@type'];
    if (typeof typeUrl !== 'string' || typeUrl.length === 0) {
      problemAt(problems, join(path, '@type'), 'required for google.protobuf.Any');
      return {};
    }
    const type = this.typeForUrl(typeUrl);
    if (!type) {
      problemAt(problems, join(path, '@type'), `unknown type URL ${typeUrl}`);
      return {};
    }
    const rest: PlainObject = {};
    for (const key of Object.keys(value)) if (key !== '@type') rest[key] = value[key];
    const before = problems.length;
    const normalized = this.normalizeMessage(type, rest, path, problems);
    if (problems.length > before) return {};
    return { type_url: typeUrl, value: type.encode(normalized as PlainObject).finish() };
  }
}

function checkScalar(type: string, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? undefined : `expected a string, got ${describe(value)}`;
    case 'bool':
      return typeof value === 'boolean' ? undefined : `expected a boolean, got ${describe(value)}`;
    case 'bytes':
      return typeof value === 'string' || value instanceof Uint8Array ? undefined : `expected bytes (base64 string), got ${describe(value)}`;
    case 'double':
    case 'float':
      return typeof value === 'number' || value === 'NaN' || value === 'Infinity' || value === '-Infinity'
        ? undefined
        : `expected a number, got ${describe(value)}`;
    case 'int32':
    case 'sint32':
    case 'sfixed32':
      return integerProblem(value, INT32_MIN, INT32_MAX, false);
    case 'uint32':
    case 'fixed32':
      return integerProblem(value, 0, UINT32_MAX, false);
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return integerProblem(value, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
    case 'uint64':
    case 'fixed64':
      return integerProblem(value, 0, Number.MAX_SAFE_INTEGER, true);
    default:
      return `unsupported field type ${type}`;
  }
}

function integerProblem(value: unknown, min: number, max: number, wide: boolean): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return undefined;
  if (typeof value === 'string' && (min < 0 ? INTEGER_STRING : UNSIGNED_STRING).test(value)) {
    const asNumber = Number(value);
    if (wide || (asNumber >= min && asNumber <= max)) return undefined;
  }
  return `expected an integer in [${min}, ${wide ? 'int64' : max}], got ${describe(value)}`;
}

function checkMapKey(keyType: string, key: string, path: Path, problems: EncodingProblem[]): void {
  if (keyType === 'string') return;
  if (keyType === 'bool') {
    if (key !== 'true' && key !== 'false') problemAt(problems, path, 'map key must be true or false');
    return;
  }
  if (!INTEGER_STRING.test(key)) problemAt(problems, path, `map key must be an integer (${keyType})`);
}

function parseDuration(text: string, path: Path, problems: EncodingProblem[]): unknown {
  const match = DURATION_STRING.exec(text);
  if (!match) {
    problemAt(problems, path, `expected a duration like "1.5s", got ${JSON.stringify(text)}`);
    return {};
  }
  const sign = match[1] ? -1 : 1;
  const nanos = match[3] ? Number(match[3].padEnd(9, '0')) : 0;
  return { seconds: String(sign * Number(match[2])), nanos: sign * nanos };
}

function parseTimestamp(text: string, path: Path, problems: EncodingProblem[]): unknown {
  const millis = Date.parse(text);
  if (Number.isNaN(millis)) {
    problemAt(problems, path, `expected an RFC 3339 timestamp, got ${JSON.stringify(text)}`);
    return {};
  }
  const seconds = Math.floor(millis / 1000);
  return { seconds: String(seconds), nanos: (millis - seconds * 1000) * 1_000_000 };
}

function camelToSnake(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/** Decoded built-in google.protobuf messages carry camelCase names; give them the proto spelling. */
function snakeCaseWellKnownFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseWellKnownFields);
  if (!isPlainObject(value)) return value;
  const out: PlainObject = {};
  for (const key of Object.keys(value)) {
    out[WELL_KNOWN_CAMEL_FIELDS.has(key) ? camelToSnake(key) : key] = snakeCaseWellKnownFields(value[key]);
  }
  return out;
}

const WELL_KNOWN_CAMEL_FIELDS = new Set(['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue']);

function looksLikeValueMessage(value: PlainObject): boolean {
  const keys = Object.keys(value);
  return keys.length === 1 && VALUE_KINDS.has(keys[0]);
}

function looksLikeStructMessage(value: PlainObject): boolean {
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'fields' || !isPlainObject(value.fields)) return false;
  return Object.values(value.fields).every((item) => isPlainObject(item) && looksLikeValueMessage(item));
}

function structFromJson(value: PlainObject, path: Path, problems: EncodingProblem[]): unknown {
  const fields: PlainObject = {};
  for (const key of Object.keys(value).sort()) fields[key] = valueFromJson(value[key], join(path, key), problems);
  return { fields };
}

function valueFromJson(value: unknown, path: Path, problems: EncodingProblem[]): unknown {
  if (value === null || value === undefined) return { null_value: 'NULL_VALUE' };
  if (typeof value === 'number') return { number_value: value };
  if (typeof value === 'string') return { string_value: value };
  if (typeof value === 'boolean') return { bool_value: value };
  if (Array.isArray(value)) {
    return { list_value: { values: value.map((item, i) => valueFromJson(item, at(path, i), problems)) } };
  }
  if (isPlainObject(value)) return { struct_value: structFromJson(value, path, problems) };
  problemAt(problems, path, `expected a JSON value, got ${describe(value)}`);
  return { null_value: 'NULL_VALUE' };
}
