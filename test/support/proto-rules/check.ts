import type protobuf from 'protobufjs';
import type { Problem } from './problem.js';
import { fieldRulesOf, type FieldRules } from './rules.js';
import { DECODED_FORM, Walk, errorMessage, type WalkOptions } from './walk.js';

export type { Problem } from './problem.js';

export type CheckOptions = WalkOptions;

/**
 * Checks a plain object in proto-JSON form (snake_case field names, Any as `{"@type", ...}`,
 * Duration as `{seconds, nanos}` or `"1.5s"`, wrappers as `{value}`, Struct as JSON) against
 * a message type of `root` and every protoc-gen-validate annotation on the way down, including
 * inside Anys. An Any may also be given packed, as `{type_url, value}` with encoded bytes.
 * Returns no problems for a valid object. A resource of any type can be checked as
 * `checkMessage(root, 'google.protobuf.Any', {'@type': url, ...fields})`.
 * Throws if `typeName` is not a message type in `root`.
 */
export function checkMessage(root: protobuf.Root, typeName: string, object: unknown, options: CheckOptions = {}): Problem[] {
  return createChecker(root, options).check(typeName, object);
}

/**
 * Decodes a message's wire bytes and checks the result like `checkMessage`, Anys inside
 * included. Unknown fields are lost in decoding, so they cannot be reported here.
 */
export function checkEncoded(root: protobuf.Root, typeName: string, bytes: Uint8Array, options: CheckOptions = {}): Problem[] {
  const type = root.lookupType(typeName);
  let decoded: Record<string, unknown>;
  try {
    decoded = type.toObject(type.decode(bytes), DECODED_FORM);
  } catch (error) {
    return [{ path: '', rule: 'type', message: `bytes do not decode as ${typeName}: ${errorMessage(error)}` }];
  }
  return checkMessage(root, typeName, decoded, options);
}

export interface ProtoChecker {
  check(typeName: string, object: unknown): Problem[];
}

/** A checker that reads each field's annotations once, for checking many objects. */
export function createChecker(root: protobuf.Root, options: CheckOptions = {}): ProtoChecker {
  const rulesCache = new WeakMap<protobuf.Field, FieldRules>();
  const rulesOf = (field: protobuf.Field): FieldRules => {
    let rules = rulesCache.get(field);
    if (!rules) {
      rules = fieldRulesOf(field);
      rulesCache.set(field, rules);
    }
    return rules;
  };
  return {
    check(typeName, object) {
      const type = root.lookupType(typeName);
      const problems: Problem[] = [];
      new Walk(root, rulesOf, options, problems).message(type, object, '', true);
      return problems;
    },
  };
}
