import { describe, expect, it } from 'vitest';
import { ResourceEncoder } from '../../../src/xds/encoder.js';
import { TypeUrl } from '../../../src/xds/contract.js';
import {
  controlPlaneField,
  deltaResourceField,
  deltaResponse,
  encodeAny,
  encodeAnyInPlace,
  Field,
  lengthDelimitedField,
  sotwResponse,
  stringField,
  varintLength,
} from '../../../src/xds/wire.js';
import { envoyRoot } from './protos.js';

const root = envoyRoot();
const encoder = new ResourceEncoder(root);
const DiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
const DeltaDiscoveryResponse = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
const Any = root.lookupType('google.protobuf.Any');

function cla(name: string, port: number) {
  return encoder.encode(TypeUrl.ClusterLoadAssignment, name, {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }],
  });
}

describe('wire writer', () => {
  it('varint lengths match protobuf for boundary values', () => {
    for (const [value, length] of [
      [0, 1],
      [127, 1],
      [128, 2],
      [16_383, 2],
      [16_384, 3],
      [2 ** 21, 4],
      [2 ** 28, 5],
      [2 ** 32, 5],
    ] as const) {
      expect(varintLength(value)).toBe(length);
    }
  });

  it('writes a DiscoveryResponse protobufjs decodes field by field, in one allocation', () => {
    const a = cla('a', 1);
    const b = cla('b', 2);
    const message = sotwResponse('n-7', 'v1', TypeUrl.ClusterLoadAssignment, [a, b], controlPlaneField(Field.DiscoveryResponse.controlPlane, 'cp-1'));
    const decoded = DiscoveryResponse.toObject(DiscoveryResponse.decode(message)) as {
      version_info: string;
      type_url: string;
      nonce: string;
      resources: { type_url: string; value: Uint8Array }[];
      control_plane: { identifier: string };
    };
    expect(decoded.version_info).toBe('v1');
    expect(decoded.type_url).toBe(TypeUrl.ClusterLoadAssignment);
    expect(decoded.nonce).toBe('n-7');
    expect(decoded.control_plane.identifier).toBe('cp-1');
    expect(decoded.resources.map((r) => r.type_url)).toEqual([TypeUrl.ClusterLoadAssignment, TypeUrl.ClusterLoadAssignment]);
    expect(Buffer.from(Any.encode(Any.fromObject(decoded.resources[1])).finish())).toEqual(Buffer.from(b.any));
  });

  it('writes a DeltaDiscoveryResponse with Resource{name, version, resource} and removed names', () => {
    const a = cla('a', 1);
    const message = deltaResponse('n1', TypeUrl.ClusterLoadAssignment, [deltaResourceField(a.name, a.version, a.any)], ['gone', ''], Buffer.alloc(0));
    const decoded = DeltaDiscoveryResponse.toObject(DeltaDiscoveryResponse.decode(message)) as {
      nonce: string;
      type_url: string;
      removed_resources: string[];
      resources: { name: string; version: string; resource: { type_url: string } }[];
    };
    expect(decoded.nonce).toBe('n1');
    expect(decoded.type_url).toBe(TypeUrl.ClusterLoadAssignment);
    expect(decoded.removed_resources).toEqual(['gone', '']);
    expect(decoded.resources).toHaveLength(1);
    expect(decoded.resources[0].name).toBe('a');
    expect(decoded.resources[0].version).toBe(a.version);
    expect(decoded.resources[0].resource.type_url).toBe(TypeUrl.ClusterLoadAssignment);
  });

  it('counts UTF-8 bytes, not characters, in names and nonces', () => {
    const message = deltaResponse('nönce-✓', TypeUrl.Secret, [], ['sécret-☃'], controlPlaneField(Field.DeltaDiscoveryResponse.controlPlane, 'cp'));
    const decoded = DeltaDiscoveryResponse.toObject(DeltaDiscoveryResponse.decode(message)) as { nonce: string; removed_resources: string[] };
    expect(decoded.nonce).toBe('nönce-✓');
    expect(decoded.removed_resources).toEqual(['sécret-☃']);
    const sotw = DiscoveryResponse.toObject(DiscoveryResponse.decode(sotwResponse('ñ-1', 'v', TypeUrl.Secret, [], Buffer.alloc(0)))) as { nonce: string };
    expect(sotw.nonce).toBe('ñ-1');
  });

  it('encodes Any like protobufjs does, and omits empty strings like proto3', () => {
    const value = new Uint8Array(300).fill(7);
    const ours = encodeAny('type.googleapis.com/x.Y', value);
    const theirs = Any.encode(Any.fromObject({ type_url: 'type.googleapis.com/x.Y', value })).finish();
    expect(Buffer.from(ours)).toEqual(Buffer.from(theirs));
    expect(stringField(1, '')).toHaveLength(0);
    expect(controlPlaneField(6, '')).toHaveLength(0);
  });

  it('writes the value of an Any in place exactly as encodeAny copies it, and refuses a value of another length than announced', () => {
    const value = Buffer.alloc(200, 9);
    const inPlace = encodeAnyInPlace('type.googleapis.com/x.Y', value.length, (out, at) => at + value.copy(out, at));
    expect(inPlace).toEqual(encodeAny('type.googleapis.com/x.Y', value));
    expect(() => encodeAnyInPlace('type.googleapis.com/x.Y', 10, (_out, at) => at + 9)).toThrow(/wrote 9 of 10 value bytes/);
  });

  it('gives an encoded Any and a Delta Resource field memory of their own, not a slice of the shared allocation pool', () => {
    const any = encodeAny('type.googleapis.com/x.Y', new Uint8Array(30).fill(7));
    const field = deltaResourceField('outbound.x', 'v1', any);
    for (const ours of [any, field]) {
      expect(ours.byteOffset).toBe(0);
      expect(ours.buffer.byteLength).toBe(ours.length);
    }
  });

  it('writes a Delta Resource field as tag, length and Resource{version, resource, name}, empty strings omitted', () => {
    for (const [name, version, any] of [
      ['outbound.x', 'v1abc', Buffer.alloc(300, 7)],
      ['', '', Buffer.alloc(5, 1)],
      ['ñame', 'v', Buffer.alloc(0)],
    ] as const) {
      const resource = Buffer.concat([stringField(Field.Resource.version, version), lengthDelimitedField(Field.Resource.resource, any), stringField(Field.Resource.name, name)]);
      expect(deltaResourceField(name, version, any)).toEqual(lengthDelimitedField(Field.DeltaDiscoveryResponse.resources, resource));
    }
  });
});
