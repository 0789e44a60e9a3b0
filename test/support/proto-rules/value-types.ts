import protobuf from 'protobufjs';
import { isFloatKind, isIntegerKind, parseBytes, parseFloating, parseInteger } from './values.js';

/** What a field (or a list element, map key or map value) holds. */
export type ValueType =
  | { readonly kind: 'scalar'; readonly scalar: string }
  | { readonly kind: 'enum'; readonly enumType: protobuf.Enum }
  | { readonly kind: 'message'; readonly messageType: protobuf.Type };

export function valueTypeOf(field: protobuf.Field): ValueType {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return { kind: 'message', messageType: resolved };
  if (resolved instanceof protobuf.Enum) return { kind: 'enum', enumType: resolved };
  return { kind: 'scalar', scalar: field.type };
}

/** A scalar after parsing: bigint for integers, number for floats, Uint8Array for bytes. */
export type ScalarValue = bigint | number | boolean | string | Uint8Array;

export function parseScalar(scalar: string, raw: unknown): ScalarValue | undefined {
  if (isIntegerKind(scalar)) return parseInteger(raw, scalar);
  if (isFloatKind(scalar)) return parseFloating(raw, scalar);
  if (scalar === 'bool') return typeof raw === 'boolean' ? raw : undefined;
  if (scalar === 'string') return typeof raw === 'string' ? raw : undefined;
  if (scalar === 'bytes') return parseBytes(raw);
  return undefined;
}

/** The proto3 default a scalar takes when it is absent. */
export function scalarDefault(scalar: string): unknown {
  if (scalar === 'bool') return false;
  if (scalar === 'string' || scalar === 'bytes') return '';
  return 0;
}

/** Map keys are strings in JSON; returns the key in the JSON form its key type takes as a value. */
export function mapKeyAsValue(keyType: string, key: string): unknown {
  if (keyType === 'bool') return key === 'true' ? true : key === 'false' ? false : key;
  return key;
}

/** Well-known wrapper messages and the scalar (and validate rule kind) each wraps. */
export const WRAPPER_SCALARS: Readonly<Record<string, string>> = {
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
};

/** Types whose proto-JSON form is not an object of their fields; inside an Any they sit under `value`. */
export const SPECIAL_JSON_TYPES: readonly string[] = [
  'google.protobuf.Duration',
  'google.protobuf.Timestamp',
  'google.protobuf.Struct',
  'google.protobuf.Value',
  'google.protobuf.ListValue',
  'google.protobuf.FieldMask',
  'google.protobuf.Any',
  ...Object.keys(WRAPPER_SCALARS),
];

/**
 * The validate rule kind for a message type's own value beside `message`: `duration`,
 * `timestamp`, `any`, or the scalar kind a wrapper holds.
 */
export function specificRuleKind(typeName: string): string | undefined {
  if (typeName === 'google.protobuf.Duration') return 'duration';
  if (typeName === 'google.protobuf.Timestamp') return 'timestamp';
  if (typeName === 'google.protobuf.Any') return 'any';
  return WRAPPER_SCALARS[typeName];
}

/** The rule kinds that can describe one value of this type. */
export function ruleKindsFor(valueType: ValueType): string[] {
  if (valueType.kind === 'scalar') return [valueType.scalar];
  if (valueType.kind === 'enum') return ['enum'];
  const specific = specificRuleKind(fullNameOf(valueType.messageType));
  return specific ? ['message', specific] : ['message'];
}

export function fullNameOf(type: protobuf.ReflectionObject): string {
  return type.fullName.replace(/^\./, '');
}
