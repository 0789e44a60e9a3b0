import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { checkMessage, type CheckOptions } from '../support/proto-rules/check.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rules.proto');
const NOW: CheckOptions = { now: new Date('2026-01-01T00:00:00Z') };

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyProtos([FIXTURE]);
});

type Fields = Record<string, unknown>;
const b64 = (text: string | number[]): string => Buffer.from(typeof text === 'string' ? Buffer.from(text) : text).toString('base64');

/** `[path, rule]` of each problem, sorted, for the base object with `change` applied. */
function problems(type: string, base: Fields, change: Fields, options: CheckOptions = NOW): [string, string][] {
  return checkMessage(root, `accord.test.${type}`, { ...base, ...change }, options)
    .map((p): [string, string] => [p.path, p.rule])
    .sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
}

const NUMBERS: Fields = { i32: 5, i64: '-5', u32: 2, u64: 8, s32: -3, s64: -1, f32: 100, f64: 1, sf32: 0, sf64: 2, fl: 1, db: 0.5, flag: true };

describe('numeric and bool rules', () => {
  it('passes a valid object', () => {
    expect(problems('Numbers', NUMBERS, {})).toEqual([]);
    expect(problems('Numbers', NUMBERS, { s64: 11, i64: 5, zero_ok: 10, fl: 0.25, db: 2.4, u64: '18446744073709551615' })).toEqual([]);
  });

  it.each<[Fields, string, string]>([
    [{ i32: 0 }, 'i32', 'int32.gt'],
    [{ i32: 10 }, 'i32', 'int32.lt'],
    [{ i64: 6 }, 'i64', 'int64.lte'],
    [{ i64: '-6' }, 'i64', 'int64.gte'],
    [{ u32: 4 }, 'u32', 'uint32.in'],
    [{ u64: '7' }, 'u64', 'uint64.not_in'],
    [{ s32: 3 }, 's32', 'sint32.const'],
    [{ s64: 0 }, 's64', 'sint64.gt'],
    [{ s64: 10 }, 's64', 'sint64.gt'],
    [{ f32: 101 }, 'f32', 'fixed32.lte'],
    [{ f64: 0 }, 'f64', 'fixed64.gte'],
    [{ sf32: -1 }, 'sf32', 'sfixed32.gt'],
    [{ sf64: 3 }, 'sf64', 'sfixed64.in'],
    [{ fl: 0 }, 'fl', 'float.gt'],
    [{ fl: 1.5 }, 'fl', 'float.lte'],
    [{ db: 2.5 }, 'db', 'double.lt'],
    [{ db: 0.4 }, 'db', 'double.gte'],
    [{ flag: false }, 'flag', 'bool.const'],
    [{ zero_ok: 5 }, 'zero_ok', 'uint32.gte'],
  ])('%j breaks %s (%s)', (change, path, rule) => {
    expect(problems('Numbers', NUMBERS, change)).toEqual([[path, rule]]);
  });

  it('fails every bound for NaN', () => {
    expect(problems('Numbers', NUMBERS, { fl: 'NaN' })).toEqual([
      ['fl', 'float.gt'],
      ['fl', 'float.lte'],
    ]);
  });

  it('checks absent scalars as their defaults (proto3 has no presence)', () => {
    const paths = problems('Numbers', {}, {}).map(([path]) => path);
    expect(paths.sort()).toEqual(['db', 'f64', 'fl', 'flag', 'i32', 's32', 's64', 'sf64', 'u32']);
  });

  it.each<[Fields, string]>([
    [{ i32: 2 ** 31 }, 'i32'],
    [{ i32: 1.5 }, 'i32'],
    [{ u32: -1 }, 'u32'],
    [{ i64: '1.5' }, 'i64'],
    [{ u64: '-1' }, 'u64'],
    [{ fl: 1e39 }, 'fl'],
    [{ db: '1' }, 'db'],
    [{ flag: 'true' }, 'flag'],
  ])('%j is the wrong type for %s', (change, path) => {
    expect(problems('Numbers', NUMBERS, change)).toEqual([[path, 'type']]);
  });
});

const STRINGS: Fields = {
  exact: 'abc',
  three: 'abc',
  chars: 'éé',
  octets: 'éé',
  lower: 'abc',
  affixes: 'abmyz',
  clean: 'good',
  color: 'red',
  not_x: 'y',
  host: 'api.example.com',
  ip: '::1',
  ipv4: '10.0.0.1',
  ipv6: 'fe80::1',
  addr: '10.1.2.3',
  uri: 'https://example.com/a?b=c#d',
  uri_ref: '../relative/path?x=%20',
  email: 'ops@example.com',
  uuid: '123e4567-e89b-12d3-a456-426614174000',
  header_name: ':authority',
  header_value: 'text/plain;\tq=1',
  loose_name: 'Has Space',
  two_bytes: 'é',
};

describe('string rules', () => {
  it('passes a valid object', () => {
    expect(problems('Strings', STRINGS, {})).toEqual([]);
    expect(problems('Strings', STRINGS, { addr: 'example.com', host: 'localhost.', uri: 'urn:isbn:0451450523', maybe_host: 'ok-host', header_name: 'x-a,b' })).toEqual([]);
  });

  it.each<[Fields, string, string]>([
    [{ exact: 'abd' }, 'exact', 'string.const'],
    [{ three: 'ab' }, 'three', 'string.len'],
    [{ chars: 'é' }, 'chars', 'string.min_len'],
    [{ chars: 'abcde' }, 'chars', 'string.max_len'],
    [{ octets: 'é' + 'éé' }, 'octets', 'string.max_bytes'],
    [{ octets: 'a' }, 'octets', 'string.min_bytes'],
    [{ two_bytes: 'ab c' }, 'two_bytes', 'string.len_bytes'],
    [{ lower: 'aBc' }, 'lower', 'string.pattern'],
    [{ affixes: 'xbmyz' }, 'affixes', 'string.prefix'],
    [{ affixes: 'abmyx' }, 'affixes', 'string.suffix'],
    [{ affixes: 'abyz' }, 'affixes', 'string.contains'],
    [{ clean: 'so bad' }, 'clean', 'string.not_contains'],
    [{ color: 'green' }, 'color', 'string.in'],
    [{ not_x: 'x' }, 'not_x', 'string.not_in'],
    [{ host: '-bad.example.com' }, 'host', 'string.hostname'],
    [{ host: 'a..b' }, 'host', 'string.hostname'],
    [{ host: 'under_score.com' }, 'host', 'string.hostname'],
    [{ ip: '1.2.3' }, 'ip', 'string.ip'],
    [{ ipv4: '::1' }, 'ipv4', 'string.ipv4'],
    [{ ipv6: '10.0.0.1' }, 'ipv6', 'string.ipv6'],
    [{ addr: 'not an address' }, 'addr', 'string.address'],
    [{ uri: '/relative' }, 'uri', 'string.uri'],
    [{ uri: 'http://exa mple.com' }, 'uri', 'string.uri'],
    [{ uri_ref: 'has space' }, 'uri_ref', 'string.uri_ref'],
    [{ email: 'nobody' }, 'email', 'string.email'],
    [{ uuid: '123e4567e89b12d3a456426614174000' }, 'uuid', 'string.uuid'],
    [{ header_name: 'bad header' }, 'header_name', 'string.well_known_regex'],
    [{ header_name: 'x-é' }, 'header_name', 'string.well_known_regex'],
    [{ header_value: 'a\u0001b' }, 'header_value', 'string.well_known_regex'],
    [{ loose_name: 'a\r\nb' }, 'loose_name', 'string.well_known_regex'],
    [{ maybe_host: 'bad_host' }, 'maybe_host', 'string.hostname'],
  ])('%j breaks %s (%s)', (change, path, rule) => {
    expect(problems('Strings', STRINGS, change)).toEqual([[path, rule]]);
  });
});

const OTHERS: Fields = {
  defined: 'RED',
  warm: 'GREEN',
  set_color: 'BLUE',
  blue: 'BLUE',
  blob: b64('abc'),
  ipv4_bytes: b64([10, 0, 0, 1]),
  tagged: b64('abcd'),
  names: ['a', 'b'],
  weights: { ab: 1 },
  by_id: { '1': { id: 'x' } },
  timeout: '30s',
  exact: { seconds: 1, nanos: 500_000_000 },
  step: { seconds: '2' },
  after: '2020-01-01T00:00:00Z',
  config: { '@type': 'type.googleapis.com/accord.test.Inner', id: 'x' },
  inner: { id: 'i' },
  a: 'xy',
  inners: [{ id: 'a' }],
};

describe('enum, bytes, repeated, map, well-known-type, message and oneof rules', () => {
  it('passes a valid object', () => {
    expect(problems('Others', OTHERS, {})).toEqual([]);
    expect(
      problems('Others', OTHERS, {
        defined: 0,
        ports: [80, 443],
        wrapped: { value: 10 },
        wrapped_s: { value: 'abc' },
        skipped: {},
        maybe: 6,
        disabled: {},
        ignored: { id: '' },
        not_inner: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s' },
        a: undefined,
        b: 0,
      }),
    ).toEqual([]);
  });

  it.each<[Fields, string, string]>([
    [{ defined: 7 }, 'defined', 'enum.defined_only'],
    [{ defined: 'PURPLE' }, 'defined', 'enum.unknown_name'],
    [{ warm: 'BLUE' }, 'warm', 'enum.in'],
    [{ set_color: undefined }, 'set_color', 'enum.not_in'],
    [{ blue: 'RED' }, 'blue', 'enum.const'],
    [{ blob: b64('a') }, 'blob', 'bytes.min_len'],
    [{ blob: b64('abcde') }, 'blob', 'bytes.max_len'],
    [{ blob: 'not base64!' }, 'blob', 'type'],
    [{ ipv4_bytes: b64([1, 2, 3]) }, 'ipv4_bytes', 'bytes.ipv4'],
    [{ tagged: b64('xbcd') }, 'tagged', 'bytes.prefix'],
    [{ names: [] }, 'names', 'repeated.min_items'],
    [{ names: ['a', 'b', 'c', 'd'] }, 'names', 'repeated.max_items'],
    [{ names: ['a', 'a'] }, 'names[1]', 'repeated.unique'],
    [{ names: ['a', 'b', 'a'] }, 'names[2]', 'repeated.unique'],
    [{ names: ['a', ''] }, 'names[1]', 'string.min_len'],
    [{ names: 'a' }, 'names', 'type'],
    [{ ports: [80] }, 'ports', 'repeated.min_items'],
    [{ ports: [80, 70000] }, 'ports[1]', 'uint32.lte'],
    [{ weights: {} }, 'weights', 'map.min_pairs'],
    [{ weights: { ab: 1, cd: 2, ef: 3 } }, 'weights', 'map.max_pairs'],
    [{ weights: { a: 1 } }, 'weights["a"]', 'string.min_len'],
    [{ weights: { ab: 0 } }, 'weights["ab"]', 'uint32.gt'],
    [{ by_id: { '0': { id: 'x' } } }, 'by_id["0"]', 'int32.gt'],
    [{ by_id: { x: { id: 'x' } } }, 'by_id["x"]', 'type'],
    [{ by_id: { '1': null } }, 'by_id["1"]', 'map.no_sparse'],
    [{ by_id: { '1': {} } }, 'by_id["1"].id', 'string.min_len'],
    [{ timeout: undefined }, 'timeout', 'duration.required'],
    [{ timeout: '0s' }, 'timeout', 'duration.gt'],
    [{ timeout: { seconds: 60, nanos: 1 } }, 'timeout', 'duration.lte'],
    [{ timeout: '30' }, 'timeout', 'type'],
    [{ timeout: { seconds: 1, nanos: -1 } }, 'timeout', 'type'],
    [{ exact: '1s' }, 'exact', 'duration.const'],
    [{ step: '3s' }, 'step', 'duration.in'],
    [{ after: '2000-01-01T00:00:00Z' }, 'after', 'timestamp.gt'],
    [{ after: { seconds: 1_900_000_000 } }, 'after', 'timestamp.lt_now'],
    [{ after: '2020-13-01T00:00:00Z' }, 'after', 'type'],
    [{ config: undefined }, 'config', 'any.required'],
    [{ config: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s' } }, 'config', 'any.in'],
    [{ config: { '@type': 'type.googleapis.com/accord.test.Inner', id: '' } }, 'config.id', 'string.min_len'],
    [{ config: { '@type': 'type.googleapis.com/accord.test.Inner', name: 'x', id: 'x' } }, 'config.name', 'unknown_field'],
    [{ not_inner: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: 'x' } }, 'not_inner.value', 'type'],
    [{ not_inner: { '@type': 'type.googleapis.com/google.protobuf.Duration', value: '1s', seconds: 1 } }, 'not_inner.seconds', 'unknown_field'],
    [{ not_inner: { '@type': 'type.googleapis.com/accord.test.Nope' } }, 'not_inner', 'any.unknown_type'],
    [{ config: { id: 'x' } }, 'config', 'type'],
    [{ not_inner: { '@type': 'type.googleapis.com/accord.test.Inner', id: 'x' } }, 'not_inner', 'any.not_in'],
    [{ inner: undefined }, 'inner', 'message.required'],
    [{ inner: {} }, 'inner.id', 'string.min_len'],
    [{ inner: [] }, 'inner', 'type'],
    [{ skipped: { bogus: 1 } }, 'skipped.bogus', 'unknown_field'],
    [{ wrapped: { value: 5 } }, 'wrapped', 'uint32.gte'],
    [{ wrapped: {} }, 'wrapped', 'uint32.gte'],
    [{ wrapped: 12 }, 'wrapped', 'type'],
    [{ wrapped_s: { value: 'ab' } }, 'wrapped_s', 'string.min_len'],
    [{ a: undefined }, 'pick', 'oneof.required'],
    [{ a: 'x' }, 'a', 'string.min_len'],
    [{ b: 1 }, 'pick', 'oneof.multiple'],
    [{ maybe: 0 }, 'maybe', 'uint32.gt'],
    [{ disabled: { x: 1 } }, 'disabled.x', 'unknown_field'],
    [{ inners: [] }, 'inners', 'repeated.min_items'],
    [{ inners: [null] }, 'inners[0]', 'type'],
    [{ inners: [{ id: '' }] }, 'inners[0].id', 'string.min_len'],
  ])('%j breaks %s (%s)', (change, path, rule) => {
    expect(problems('Others', OTHERS, change)).toEqual([[path, rule]]);
  });

  it('skips rules below message.skip and in disabled or ignored messages', () => {
    expect(problems('Others', OTHERS, { skipped: { id: '' }, disabled: { id: '' }, ignored: {} })).toEqual([]);
  });
});

describe('annotations the checker cannot evaluate', () => {
  it('reports each as unsupported instead of passing it', () => {
    expect(problems('Unsupported', {}, { recent: '2025-12-31T23:59:30Z' }, {})).toEqual([
      ['not_a_rule', 'unsupported'],
      ['re2_only', 'unsupported'],
      ['recent', 'unsupported'],
      ['wrong_kind', 'unsupported'],
    ]);
  });

  it('evaluates timestamp.within once it knows the time', () => {
    const base = { not_a_rule: 'x', re2_only: 'abc', wrong_kind: 1 };
    const rules = (fields: Fields): string[] => problems('Unsupported', base, fields).filter(([p]) => p === 'recent').map(([, r]) => r);
    expect(rules({ recent: '2025-12-31T23:59:30Z' })).toEqual([]);
    expect(rules({ recent: '2025-12-31T00:00:00Z' })).toEqual(['timestamp.within']);
  });
});
