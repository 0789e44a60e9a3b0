import { describe, expect, it } from 'vitest';
import { formatDuration, parseBytes, parseDuration, parseFloating, parseInteger, parseTimestamp } from '../support/proto-rules/values.js';
import { matchesFormat } from '../support/proto-rules/formats.js';

describe('proto-JSON value parsing', () => {
  it.each<[unknown, bigint | undefined]>([
    ['1.5s', 1_500_000_000n],
    ['-0.25s', -250_000_000n],
    ['0s', 0n],
    ['3.000000001s', 3_000_000_001n],
    [{ seconds: 2, nanos: 5 }, 2_000_000_005n],
    [{ seconds: '-2', nanos: -5 }, -2_000_000_005n],
    [{}, 0n],
    ['1.0000000001s', undefined],
    ['1m', undefined],
    ['s', undefined],
    [{ seconds: 1, nanos: -1 }, undefined],
    [{ seconds: 1, nanos: 1_000_000_000 }, undefined],
    [{ seconds: 1, minutes: 1 }, undefined],
    ['315576000001s', undefined],
  ])('duration %j is %s nanoseconds', (raw, nanos) => {
    expect(parseDuration(raw)).toBe(nanos);
  });

  it('formats durations the way proto-JSON writes them', () => {
    expect([1_500_000_000n, -250_000_000n, 0n, 60_000_000_000n].map(formatDuration)).toEqual(['1.5s', '-0.25s', '0s', '60s']);
  });

  it.each<[unknown, bigint | undefined]>([
    ['1970-01-01T00:00:00Z', 0n],
    ['1970-01-01T02:00:01.5+02:00', 1_500_000_000n],
    [{ seconds: 10 }, 10_000_000_000n],
    ['1970-01-01 00:00:00Z', undefined],
    ['1970-01-01T00:00:00', undefined],
    [{ seconds: 1, nanos: -1 }, undefined],
    ['10000-01-01T00:00:00Z', undefined],
  ])('timestamp %j is %s nanoseconds after the epoch', (raw, nanos) => {
    expect(parseTimestamp(raw)).toBe(nanos);
  });

  it('bounds integers by kind and accepts proto-JSON decimal strings', () => {
    expect(parseInteger(4294967295, 'uint32')).toBe(4294967295n);
    expect(parseInteger(4294967296, 'uint32')).toBeUndefined();
    expect(parseInteger('-9223372036854775808', 'int64')).toBe(-(2n ** 63n));
    expect(parseInteger('9223372036854775808', 'int64')).toBeUndefined();
    expect(parseInteger('1e3', 'int32')).toBeUndefined();
    expect(parseInteger(true, 'int32')).toBeUndefined();
  });

  it('accepts the non-finite spellings for floats and refuses floats out of float32 range', () => {
    expect(parseFloating('Infinity', 'float')).toBe(Number.POSITIVE_INFINITY);
    expect(parseFloating('-Infinity', 'double')).toBe(Number.NEGATIVE_INFINITY);
    expect(parseFloating(3.5e38, 'float')).toBeUndefined();
    expect(parseFloating(3.5e38, 'double')).toBe(3.5e38);
  });

  it('reads bytes as standard or URL-safe base64', () => {
    expect(Buffer.from(parseBytes('+/8=') ?? [])).toEqual(Buffer.from([0xfb, 0xff]));
    expect(Buffer.from(parseBytes('-_8') ?? [])).toEqual(Buffer.from([0xfb, 0xff]));
    expect(parseBytes('a b')).toBeUndefined();
  });
});

describe('well-known string formats', () => {
  it('checks host names by RFC 1034 label rules', () => {
    expect(matchesFormat('hostname', `${'a'.repeat(63)}.example`)).toBe(true);
    expect(matchesFormat('hostname', `${'a'.repeat(64)}.example`)).toBe(false);
    expect(matchesFormat('hostname', Array(64).fill('abc').join('.'))).toBe(false);
    expect(matchesFormat('hostname', 'xn--bcher-kva.example')).toBe(true);
    expect(matchesFormat('hostname', '')).toBe(false);
  });

  it('checks URIs and URI references', () => {
    expect(matchesFormat('uri', 'http://[fe80::1]:8080/x')).toBe(true);
    expect(matchesFormat('uri', 'spiffe://mesh.local/ns/default/sa/payments')).toBe(true);
    expect(matchesFormat('uri', 'http://host/%zz')).toBe(false);
    expect(matchesFormat('uri_ref', '#fragment')).toBe(true);
    expect(matchesFormat('uri_ref', 'a[1]')).toBe(false);
  });
});
