/**
 * A tiny protobuf wire writer for the handful of messages the transport assembles from cached
 * bytes (DiscoveryResponse, DeltaDiscoveryResponse, Resource, Any). Field numbers come from
 * envoy/service/discovery/v3/discovery.proto and google/protobuf/any.proto. Everything else is
 * encoded with protobufjs; this exists so a push to N streams re-encodes nothing.
 */

const WIRE_VARINT = 0;
const WIRE_LENGTH_DELIMITED = 2;

/** Field numbers of the messages written here. */
export const Field = {
  Any: { typeUrl: 1, value: 2 },
  DiscoveryResponse: { versionInfo: 1, resources: 2, typeUrl: 4, nonce: 5, controlPlane: 6 },
  DeltaDiscoveryResponse: { systemVersionInfo: 1, resources: 2, typeUrl: 4, nonce: 5, removedResources: 6, controlPlane: 7 },
  Resource: { version: 1, resource: 2, name: 3 },
  ControlPlane: { identifier: 1 },
} as const;

export function varintLength(value: number): number {
  let length = 1;
  let rest = value;
  while (rest >= 0x80) {
    rest = Math.floor(rest / 128);
    length += 1;
  }
  return length;
}

function writeVarint(target: Buffer, offset: number, value: number): number {
  let rest = value;
  let at = offset;
  while (rest >= 0x80) {
    target[at++] = (rest % 128) | 0x80;
    rest = Math.floor(rest / 128);
  }
  target[at++] = rest;
  return at;
}

/** Size of a length-delimited field (tag, length, payload) whose payload is `payloadLength` bytes. */
export function lengthDelimitedLength(fieldNumber: number, payloadLength: number): number {
  return varintLength((fieldNumber << 3) | WIRE_LENGTH_DELIMITED) + varintLength(payloadLength) + payloadLength;
}

/** Writes a length-delimited field's tag and length; its payload follows at the returned offset. */
export function writeLengthDelimitedHeader(target: Buffer, offset: number, fieldNumber: number, payloadLength: number): number {
  return writeVarint(target, writeVarint(target, offset, (fieldNumber << 3) | WIRE_LENGTH_DELIMITED), payloadLength);
}

/** Bytes of one length-delimited field: tag, length, payload. */
export function lengthDelimitedField(fieldNumber: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(lengthDelimitedLength(fieldNumber, payload.length));
  out.set(payload, writeLengthDelimitedHeader(out, 0, fieldNumber, payload.length));
  return out;
}

/** A string field; empty strings are omitted as proto3 does. */
export function stringField(fieldNumber: number, value: string): Buffer {
  if (value.length === 0) return EMPTY;
  return lengthDelimitedField(fieldNumber, Buffer.from(value, 'utf8'));
}

/** A varint field (used by tests to build requests by hand). */
export function varintField(fieldNumber: number, value: number): Buffer {
  const tag = (fieldNumber << 3) | WIRE_VARINT;
  const out = Buffer.allocUnsafe(varintLength(tag) + varintLength(value));
  writeVarint(out, writeVarint(out, 0, tag), value);
  return out;
}

export const EMPTY: Buffer = Buffer.alloc(0);

/**
 * `google.protobuf.Any{type_url, value}`, in memory of its own: encoded resources live as long as
 * the config, and a slice of Node's shared 8 KB allocation pool would keep the whole slab (and
 * whatever short-lived bytes shared it) alive with them.
 */
export function encodeAny(typeUrl: string, value: Uint8Array): Buffer {
  return encodeAnyInPlace(typeUrl, value.length, (out, at) => {
    out.set(value, at);
    return at + value.length;
  });
}

/**
 * `encodeAny` for a value written straight into the Any's memory: `writeValue` writes exactly
 * `valueLength` bytes from `at` and returns where it stopped. One allocation instead of two (each
 * new backing store costs several microseconds: 156 ms of a 10,000-proxy restart went to the two
 * made for each proxy's secret), and no intermediate copy of what the value holds.
 */
export function encodeAnyInPlace(typeUrl: string, valueLength: number, writeValue: (out: Buffer, at: number) => number): Buffer {
  const valueTag = (Field.Any.value << 3) | WIRE_LENGTH_DELIMITED;
  const out = Buffer.allocUnsafeSlow(stringFieldLength(Field.Any.typeUrl, typeUrl) + varintLength(valueTag) + varintLength(valueLength) + valueLength);
  let at = writeStringField(out, 0, Field.Any.typeUrl, typeUrl);
  at = writeVarint(out, at, valueTag);
  at = writeVarint(out, at, valueLength);
  const end = writeValue(out, at);
  if (end !== out.length) throw new Error(`Any ${typeUrl}: wrote ${end - at} of ${valueLength} value bytes`);
  return out;
}

/** `envoy.config.core.v3.ControlPlane{identifier}` as a DiscoveryResponse/DeltaDiscoveryResponse field. */
export function controlPlaneField(fieldNumber: number, identifier: string): Buffer {
  if (identifier.length === 0) return EMPTY;
  return lengthDelimitedField(fieldNumber, stringField(Field.ControlPlane.identifier, identifier));
}

/**
 * A whole DiscoveryResponse in one allocation: nonce, version_info, resources, type_url and
 * control_plane. Written straight from the resources' cached `Any` bytes, so nothing but the
 * message on its way to the socket is held (a shared pre-assembled body would be copied per stream
 * anyway, and kept long after). `allocate` gives it memory (the transport's `MessageSlab`).
 */
export function sotwResponse(
  nonce: string,
  versionInfo: string,
  typeUrl: string,
  resources: readonly { readonly any: Uint8Array }[],
  controlPlane: Buffer,
  allocate: (length: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const F = Field.DiscoveryResponse;
  const resourceTag = (F.resources << 3) | WIRE_LENGTH_DELIMITED;
  let length = stringFieldLength(F.nonce, nonce) + stringFieldLength(F.versionInfo, versionInfo) + stringFieldLength(F.typeUrl, typeUrl) + controlPlane.length;
  for (const { any } of resources) length += varintLength(resourceTag) + varintLength(any.length) + any.length;
  const out = allocate(length);
  let at = writeStringField(out, 0, F.nonce, nonce);
  at = writeStringField(out, at, F.versionInfo, versionInfo);
  for (const { any } of resources) {
    at = writeVarint(out, at, resourceTag);
    at = writeVarint(out, at, any.length);
    out.set(any, at);
    at += any.length;
  }
  at = writeStringField(out, at, F.typeUrl, typeUrl);
  controlPlane.copy(out, at);
  return out;
}

/**
 * `envoy.service.discovery.v3.Resource{name, version, resource}`, wrapped as a
 * DeltaDiscoveryResponse.resources field. Cached as long as its resource lives, so it gets memory
 * of its own (see `encodeAny`).
 */
export function deltaResourceField(name: string, version: string, any: Uint8Array): Buffer {
  const R = Field.Resource;
  const anyTag = (R.resource << 3) | WIRE_LENGTH_DELIMITED;
  const resourceLength = stringFieldLength(R.version, version) + varintLength(anyTag) + varintLength(any.length) + any.length + stringFieldLength(R.name, name);
  const fieldTag = (Field.DeltaDiscoveryResponse.resources << 3) | WIRE_LENGTH_DELIMITED;
  const out = Buffer.allocUnsafeSlow(varintLength(fieldTag) + varintLength(resourceLength) + resourceLength);
  let at = writeVarint(out, 0, fieldTag);
  at = writeVarint(out, at, resourceLength);
  at = writeStringField(out, at, R.version, version);
  at = writeVarint(out, at, anyTag);
  at = writeVarint(out, at, any.length);
  out.set(any, at);
  at += any.length;
  writeStringField(out, at, R.name, name);
  return out;
}

export function deltaResponse(
  nonce: string,
  typeUrl: string,
  resourceFields: readonly Uint8Array[],
  removed: readonly string[],
  controlPlane: Buffer,
  allocate: (length: number) => Buffer = Buffer.allocUnsafe,
): Buffer {
  const F = Field.DeltaDiscoveryResponse;
  let length = stringFieldLength(F.typeUrl, typeUrl) + stringFieldLength(F.nonce, nonce) + controlPlane.length;
  for (const field of resourceFields) length += field.length;
  for (const name of removed) length += repeatedStringLength(F.removedResources, name);
  const out = allocate(length);
  let at = writeStringField(out, 0, F.typeUrl, typeUrl);
  at = writeStringField(out, at, F.nonce, nonce);
  for (const field of resourceFields) {
    out.set(field, at);
    at += field.length;
  }
  for (const name of removed) at = writeString(out, at, F.removedResources, name);
  controlPlane.copy(out, at);
  return out;
}

/** Size of a string field written even when empty (repeated fields; singular ones a message sets explicitly). */
export function repeatedStringLength(fieldNumber: number, value: string): number {
  return lengthDelimitedLength(fieldNumber, Buffer.byteLength(value, 'utf8'));
}

/** Like `stringField`: proto3 omits an empty singular string. */
function stringFieldLength(fieldNumber: number, value: string): number {
  return value.length === 0 ? 0 : repeatedStringLength(fieldNumber, value);
}

function writeStringField(target: Buffer, offset: number, fieldNumber: number, value: string): number {
  return value.length === 0 ? offset : writeString(target, offset, fieldNumber, value);
}

/** Writes tag, length and UTF-8 bytes (also for empty strings, as repeated fields need). */
export function writeString(target: Buffer, offset: number, fieldNumber: number, value: string): number {
  const at = writeLengthDelimitedHeader(target, offset, fieldNumber, Buffer.byteLength(value, 'utf8'));
  return at + target.write(value, at, 'utf8');
}
