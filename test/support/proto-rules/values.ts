/**
 * Parsing of proto-JSON scalar and well-known-type values into comparable forms. Every parser
 * returns `undefined` for a value of the wrong shape; the caller reports it.
 */

export type IntegerKind =
  | 'int32'
  | 'sint32'
  | 'sfixed32'
  | 'uint32'
  | 'fixed32'
  | 'int64'
  | 'sint64'
  | 'sfixed64'
  | 'uint64'
  | 'fixed64';
export type FloatKind = 'float' | 'double';

const INTEGER_RANGES: Readonly<Record<IntegerKind, readonly [bigint, bigint]>> = {
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  sint32: [-(2n ** 31n), 2n ** 31n - 1n],
  sfixed32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  fixed32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
  sint64: [-(2n ** 63n), 2n ** 63n - 1n],
  sfixed64: [-(2n ** 63n), 2n ** 63n - 1n],
  uint64: [0n, 2n ** 64n - 1n],
  fixed64: [0n, 2n ** 64n - 1n],
};

export function isIntegerKind(kind: string): kind is IntegerKind {
  return Object.hasOwn(INTEGER_RANGES, kind);
}

export function isFloatKind(kind: string): kind is FloatKind {
  return kind === 'float' || kind === 'double';
}

/**
 * An integer given as a JSON number, a decimal string (proto-JSON's 64-bit form), a bigint, or a
 * Long (what protobufjs's toObject yields for 64-bit fields by default).
 */
export function parseInteger(raw: unknown, kind: IntegerKind): bigint | undefined {
  let value: bigint;
  if (typeof raw === 'bigint') value = raw;
  else if (typeof raw === 'number' && Number.isInteger(raw)) value = BigInt(raw);
  else if (typeof raw === 'string' && /^-?\d+$/.test(raw)) value = BigInt(raw);
  else if (isLong(raw)) value = BigInt(raw.toString());
  else return undefined;
  const [min, max] = INTEGER_RANGES[kind];
  return value >= min && value <= max ? value : undefined;
}

const FLOAT32_MAX = 3.4028234663852886e38;

/** A JSON number or one of proto-JSON's spellings of the non-finite values. */
export function parseFloating(raw: unknown, kind: FloatKind): number | undefined {
  let value: number;
  if (typeof raw === 'number') value = raw;
  else if (raw === 'NaN') value = Number.NaN;
  else if (raw === 'Infinity') value = Number.POSITIVE_INFINITY;
  else if (raw === '-Infinity') value = Number.NEGATIVE_INFINITY;
  else return undefined;
  if (kind === 'float' && Number.isFinite(value) && Math.abs(value) > FLOAT32_MAX) return undefined;
  return value;
}

/** Bytes as base64 (standard or URL-safe alphabet, proto-JSON's form) or as a Uint8Array. */
export function parseBytes(raw: unknown): Uint8Array | undefined {
  if (raw instanceof Uint8Array) return raw;
  if (typeof raw !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(raw)) return undefined;
  return new Uint8Array(Buffer.from(raw, 'base64'));
}

const NANOS_PER_SECOND = 1_000_000_000n;
/** ±10,000 years, the range google.protobuf.Duration allows. */
const MAX_DURATION_SECONDS = 315_576_000_000n;

/**
 * A google.protobuf.Duration as total nanoseconds, from `"1.5s"` or `{seconds, nanos}`.
 * An empty object is a zero duration.
 */
export function parseDuration(raw: unknown): bigint | undefined {
  if (typeof raw === 'string') {
    const match = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/.exec(raw);
    if (!match) return undefined;
    const seconds = BigInt(match[2]);
    const nanos = BigInt((match[3] ?? '').padEnd(9, '0'));
    if (seconds > MAX_DURATION_SECONDS) return undefined;
    const total = seconds * NANOS_PER_SECOND + nanos;
    return match[1] ? -total : total;
  }
  const parts = secondsAndNanos(raw);
  if (!parts) return undefined;
  const [seconds, nanos] = parts;
  if (seconds > MAX_DURATION_SECONDS || seconds < -MAX_DURATION_SECONDS) return undefined;
  if ((seconds > 0n && nanos < 0n) || (seconds < 0n && nanos > 0n)) return undefined;
  return seconds * NANOS_PER_SECOND + nanos;
}

/** The earliest and latest instants google.protobuf.Timestamp allows (years 0001 and 9999). */
const MIN_TIMESTAMP_SECONDS = -62_135_596_800n;
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n;

/**
 * A google.protobuf.Timestamp as nanoseconds since the epoch, from an RFC 3339 string or
 * `{seconds, nanos}`.
 */
export function parseTimestamp(raw: unknown): bigint | undefined {
  let seconds: bigint;
  let nanos: bigint;
  if (typeof raw === 'string') {
    const match = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(raw);
    if (!match) return undefined;
    const millis = Date.parse(`${match[1]}${match[3]}`);
    if (Number.isNaN(millis)) return undefined;
    seconds = BigInt(millis / 1000);
    nanos = BigInt((match[2] ?? '').padEnd(9, '0'));
  } else {
    const parts = secondsAndNanos(raw);
    if (!parts || parts[1] < 0n) return undefined;
    [seconds, nanos] = parts;
  }
  if (seconds < MIN_TIMESTAMP_SECONDS || seconds > MAX_TIMESTAMP_SECONDS) return undefined;
  return seconds * NANOS_PER_SECOND + nanos;
}

function secondsAndNanos(raw: unknown): [bigint, bigint] | undefined {
  if (!isPlainObject(raw)) return undefined;
  if (Object.keys(raw).some((key) => key !== 'seconds' && key !== 'nanos')) return undefined;
  const seconds = raw.seconds === undefined ? 0n : parseInteger(raw.seconds, 'int64');
  const nanos = raw.nanos === undefined ? 0n : parseInteger(raw.nanos, 'int32');
  if (seconds === undefined || nanos === undefined) return undefined;
  if (nanos <= -NANOS_PER_SECOND || nanos >= NANOS_PER_SECOND) return undefined;
  return [seconds, nanos];
}

/** Renders nanoseconds as a proto-JSON duration string, for messages. */
export function formatDuration(nanos: bigint): string {
  const sign = nanos < 0n ? '-' : '';
  const abs = nanos < 0n ? -nanos : nanos;
  const seconds = abs / NANOS_PER_SECOND;
  const fraction = (abs % NANOS_PER_SECOND).toString().padStart(9, '0').replace(/0+$/, '');
  return `${sign}${seconds}${fraction ? `.${fraction}` : ''}s`;
}

export function formatTimestamp(nanos: bigint): string {
  return new Date(Number(nanos / 1_000_000n)).toISOString();
}

function isLong(value: unknown): value is { toString(): string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { low?: unknown }).low === 'number' &&
    typeof (value as { high?: unknown }).high === 'number' &&
    typeof (value as { unsigned?: unknown }).unsigned === 'boolean'
  );
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
