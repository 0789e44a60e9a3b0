import protobuf from 'protobufjs';
import { TypeUrl, type EncodedResource } from './contract.js';

/** Envoy marks private keys, passwords and session ticket keys with this field option. */
const SENSITIVE_OPTION = '(udpa.annotations.sensitive)';
const REDACTED = '[redacted]';
const ANY_TYPE = '.google.protobuf.Any';
/** How deep nested messages are followed; Envoy resources are far shallower. */
const MAX_DEPTH = 64;

type Plain = Record<string, unknown>;

const TO_PLAIN: protobuf.IConversionOptions = { longs: String, enums: Number, bytes: Array, defaults: false };

/**
 * Resource contents as CSDS may show them: Secrets never (name, version and status only), every
 * other type with the fields Envoy annotates `(udpa.annotations.sensitive)` replaced by
 * "[redacted]" (as Envoy's and Istio's config dumps do), also inside `Any` (typed_config). An
 * `Any` of a type that is not loaded cannot be inspected, so its bytes are dropped.
 */
export class ResourceRedactor {
  private readonly anyType: protobuf.Type;
  private readonly cache = new WeakMap<EncodedResource, Uint8Array | null>();

  constructor(private readonly root: protobuf.Root) {
    this.anyType = root.lookupType('google.protobuf.Any');
  }

  /** The resource's `Any` bytes safe to show, or undefined when nothing may be shown. Cached per resource. */
  redactedAny(resource: EncodedResource): Uint8Array | undefined {
    const cached = this.cache.get(resource);
    if (cached !== undefined) return cached ?? undefined;
    const redacted = this.compute(resource);
    this.cache.set(resource, redacted ?? null);
    return redacted;
  }

  private compute(resource: EncodedResource): Uint8Array | undefined {
    if (resource.typeUrl === TypeUrl.Secret) return undefined;
    try {
      const any = this.anyType.toObject(this.anyType.decode(resource.any), TO_PLAIN) as Plain;
      if (!this.redactAny(any, 0) || !any.value) return undefined;
      return this.anyType.encode(this.anyType.fromObject(any)).finish();
    } catch {
      return undefined;
    }
  }

  /** Redacts an `Any` in place; false if its contents cannot be shown at all. */
  private redactAny(any: Plain, depth: number): boolean {
    const typeUrl = typeof any.type_url === 'string' ? any.type_url : '';
    const type = this.lookup(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
    if (!type || typeUrl === TypeUrl.Secret || depth > MAX_DEPTH) {
      any.value = [];
      return false;
    }
    const message = type.toObject(type.decode(Uint8Array.from((any.value as number[] | undefined) ?? [])), TO_PLAIN) as Plain;
    this.redactMessage(type, message, depth + 1);
    any.value = Array.from(type.encode(type.fromObject(message)).finish());
    return true;
  }

  private redactMessage(type: protobuf.Type, message: Plain, depth: number): void {
    if (depth > MAX_DEPTH) {
      for (const key of Object.keys(message)) delete message[key];
      return;
    }
    for (const field of type.fieldsArray) {
      if (!Object.hasOwn(message, field.name)) continue;
      if (field.options?.[SENSITIVE_OPTION] === true) {
        message[field.name] = redactedValue(field);
        continue;
      }
      const fieldType = field.resolvedType;
      if (!(fieldType instanceof protobuf.Type)) continue;
      const value = message[field.name];
      const items = field.map ? Object.values(value as Plain) : field.repeated ? (value as unknown[]) : [value];
      for (const item of items) {
        if (typeof item !== 'object' || item === null) continue;
        if (fieldType.fullName === ANY_TYPE) this.redactAny(item as Plain, depth);
        else this.redactMessage(fieldType, item as Plain, depth + 1);
      }
    }
  }

  private lookup(name: string): protobuf.Type | undefined {
    if (!name) return undefined;
    try {
      return this.root.lookupType(name);
    } catch {
      return undefined;
    }
  }
}

function redactedValue(field: protobuf.Field): unknown {
  const one = (): unknown => {
    if (field.resolvedType instanceof protobuf.Type) {
      // A DataSource (the usual sensitive message) can say so; other messages become empty.
      return field.resolvedType.fields.inline_string ? { inline_string: REDACTED } : {};
    }
    if (field.type === 'string') return REDACTED;
    if (field.type === 'bytes') return Array.from(Buffer.from(REDACTED));
    return undefined;
  };
  if (field.map) return {};
  if (field.repeated) return [one()].filter((value) => value !== undefined);
  return one();
}
