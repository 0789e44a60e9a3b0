import { describe, expect, it } from 'vitest';
import { ResourceEncoder, ResourceEncodingError } from '../../../src/xds/encoder.js';
import { TypeUrl } from '../../../src/xds/contract.js';
import { contentVersion } from '../../../src/xds/versions.js';
import { envoyRoot } from './protos.js';

const encoder = new ResourceEncoder(envoyRoot());
const TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

function problemsOf(fn: () => unknown): { path: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ResourceEncodingError) return [...error.problems];
    throw error;
  }
  throw new Error('expected a ResourceEncodingError');
}

describe('ResourceEncoder', () => {
  it('round-trips a cluster with nested Any, enums, wrappers, Duration and Struct', () => {
    const cluster = {
      name: 'c1',
      type: 'EDS',
      connect_timeout: { seconds: '2', nanos: 500_000_000 },
      eds_cluster_config: { eds_config: { ads: {} }, service_name: 'c1' },
      per_connection_buffer_limit_bytes: { value: 32768 },
      metadata: { filter_metadata: { accord: { fields: { service: { string_value: 'payments' } } } } },
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: { '@type': TLS, sni: 'payments' } },
    };
    const encoded = encoder.encode(TypeUrl.Cluster, 'c1', cluster);
    expect(encoded.name).toBe('c1');
    expect(encoded.typeUrl).toBe(TypeUrl.Cluster);
    expect(encoded.version).toBe(contentVersion(encoded.any));
    expect(encoder.decode(encoded)).toEqual(cluster);
  });

  it('accepts proto-JSON shortcuts: duration strings, bare wrapper values, plain JSON Struct', () => {
    const short = encoder.encode(TypeUrl.Cluster, 'c1', {
      name: 'c1',
      connect_timeout: '1.25s',
      per_connection_buffer_limit_bytes: 1024,
      metadata: { filter_metadata: { accord: { n: 1, list: ['a', true, null], nested: { x: 'y' } } } },
    });
    const decoded = encoder.decode(short) as { connect_timeout: unknown; per_connection_buffer_limit_bytes: unknown; metadata: unknown };
    expect(decoded.connect_timeout).toEqual({ seconds: '1', nanos: 250_000_000 });
    expect(decoded.per_connection_buffer_limit_bytes).toEqual({ value: 1024 });
    expect(decoded.metadata).toEqual({
      filter_metadata: {
        accord: {
          fields: {
            list: { list_value: { values: [{ string_value: 'a' }, { bool_value: true }, { null_value: 'NULL_VALUE' }] } },
            n: { number_value: 1 },
            nested: { struct_value: { fields: { x: { string_value: 'y' } } } },
          },
        },
      },
    });
  });

  it('hands protobufjs exactly what its fromObject would: enum names and numbers, numeric strings, int64 strings, special doubles', () => {
    const root = envoyRoot();
    const Cluster = root.lookupType('envoy.config.cluster.v3.Cluster');
    const AnyType = root.lookupType('google.protobuf.Any');
    // Spellings both accept: the encoder no longer copies through fromObject, so its bytes must equal fromObject's.
    const cluster = {
      name: 'c1',
      type: 3,
      lb_policy: 'RING_HASH',
      per_connection_buffer_limit_bytes: { value: '1024' },
      ring_hash_lb_config: { minimum_ring_size: { value: '9007199254740991' }, hash_function: 'MURMUR_HASH_2' },
      common_lb_config: { healthy_panic_threshold: { value: 'Infinity' } },
      // Map keys in sorted order: the encoder sorts them (equal content, equal bytes), fromObject keeps the given order.
      metadata: { filter_metadata: { a: { fields: { s: { stringValue: 'x' } } }, b: { fields: { n: { numberValue: 2 }, z: { nullValue: 'NULL_VALUE' } } } } },
      load_assignment: {
        cluster_name: 'c1',
        endpoints: [{ priority: '2', lb_endpoints: [{ health_status: 'DRAINING', endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: '8080' } } } }] }],
      },
    };
    const ours = AnyType.decode(encoder.encode(TypeUrl.Cluster, 'c1', cluster).any) as unknown as { value: Uint8Array };
    const reference = Cluster.encode(Cluster.fromObject(cluster)).finish();
    expect(Buffer.from(ours.value).toString('hex')).toBe(Buffer.from(reference).toString('hex'));
  });

  it('gives equal content equal bytes and versions regardless of map key order', () => {
    const one = encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', metadata: { filter_metadata: { a: { x: 1 }, b: { y: 2 } } } });
    const two = encoder.encode(TypeUrl.Cluster, 'c', { metadata: { filter_metadata: { b: { y: 2 }, a: { x: 1 } } }, name: 'c' });
    expect(two.version).toBe(one.version);
    expect(Buffer.from(two.any)).toEqual(Buffer.from(one.any));
    const changed = encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', metadata: { filter_metadata: { a: { x: 2 }, b: { y: 2 } } } });
    expect(changed.version).not.toBe(one.version);
  });

  it('lists every unknown field and wrong type with its path', () => {
    const problems = problemsOf(() =>
      encoder.encode(TypeUrl.Cluster, 'bad', {
        name: 7,
        bogus: true,
        type: 'NOT_A_TYPE',
        connect_timeout: { seconds: 'soon' },
        load_assignment: { endpoints: [{ lb_endpoints: 'nope' }] },
        transport_socket: { typed_config: { '@type': TLS, snii: 'x' } },
      }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(
      [
        'name',
        'bogus',
        'type',
        'connect_timeout.seconds',
        'load_assignment.endpoints[0].lb_endpoints',
        'transport_socket.typed_config.snii',
      ].sort(),
    );
    expect(problems.find((p) => p.path === 'bogus')?.message).toMatch(/unknown field/);
    expect(problems.find((p) => p.path === 'type')?.message).toMatch(/EDS/);
  });

  it('rejects an Any without @type, an unknown @type, two members of a oneof and an unknown type URL', () => {
    expect(problemsOf(() => encoder.encode(TypeUrl.Cluster, 'c', { transport_socket: { typed_config: { sni: 'x' } } }))[0].path).toBe(
      'transport_socket.typed_config.@type',
    );
    expect(
      problemsOf(() => encoder.encode(TypeUrl.Cluster, 'c', { transport_socket: { typed_config: { '@type': 'type.googleapis.com/no.Such' } } }))[0]
        .message,
    ).toMatch(/unknown type URL/);
    expect(problemsOf(() => encoder.encode(TypeUrl.Cluster, 'c', { type: 'EDS', cluster_type: { name: 'x' } }))[0].message).toMatch(
      /only one of/,
    );
    expect(() => encoder.encode('type.googleapis.com/no.Such', 'x', {})).toThrow(ResourceEncodingError);
  });

  it('checks integer ranges and map keys', () => {
    const problems = problemsOf(() =>
      encoder.encode(TypeUrl.ClusterLoadAssignment, 'x', {
        cluster_name: 'x',
        endpoints: [{ priority: -1, lb_endpoints: [{ endpoint: { address: { socket_address: { port_value: 1.5 } } } }] }],
      }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual(['endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value', 'endpoints[0].priority']);
  });

  it('names the endpoints an EDS cluster warms on: its service_name, else its own name; none for other discovery types', () => {
    expect(encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', type: 'EDS', eds_cluster_config: { service_name: 'c-eds' } }).endpointsName).toBe('c-eds');
    expect(encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } }).endpointsName).toBe('c');
    expect(encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', type: 3 }).endpointsName).toBe('c');
    expect(encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', type: 'STATIC' }).endpointsName).toBeUndefined();
    expect(encoder.encode(TypeUrl.ClusterLoadAssignment, 'c', { cluster_name: 'c' }).endpointsName).toBeUndefined();
  });

  it('accepts snake_case and camelCase names for google.protobuf fields, and only proto names for Envoy fields', () => {
    const withValue = (value: Record<string, unknown>) =>
      encoder.encode(TypeUrl.Cluster, 'c', { name: 'c', metadata: { filter_metadata: { x: { fields: { a: value } } } } }).any;
    expect(Buffer.from(withValue({ number_value: 1 }))).toEqual(Buffer.from(withValue({ numberValue: 1 })));
    expect(Buffer.from(withValue({ string_value: 'v' }))).not.toEqual(Buffer.from(withValue({ number_value: 1 })));
    expect(problemsOf(() => encoder.encode(TypeUrl.Cluster, 'c', { connectTimeout: '1s' }))).toEqual([
      { path: 'connectTimeout', message: 'unknown field of envoy.config.cluster.v3.Cluster' },
    ]);
  });
});
