import { describe, expect, it } from 'vitest';
import { BadRequestError, RequestDecoder } from '../../../src/xds/requests.js';
import { TypeUrl } from '../../../src/xds/contract.js';
import { envoyRoot } from './protos.js';

const root = envoyRoot();
const DiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
const DeltaDiscoveryRequest = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
const decoder = new RequestDecoder(root, 3);

function sotw(object: Record<string, unknown>): Uint8Array {
  return DiscoveryRequest.encode(DiscoveryRequest.fromObject(object)).finish();
}
function delta(object: Record<string, unknown>): Uint8Array {
  return DeltaDiscoveryRequest.encode(DeltaDiscoveryRequest.fromObject(object)).finish();
}

describe('RequestDecoder', () => {
  it('decodes a DiscoveryRequest with its node as NodeInfo', () => {
    const request = decoder.decodeSotw(
      sotw({
        version_info: 'v1',
        type_url: TypeUrl.Cluster,
        resource_names: ['a', 'b'],
        response_nonce: 'n1',
        node: {
          id: 'payments-1',
          cluster: 'payments',
          user_agent_name: 'envoy',
          user_agent_build_version: { version: { major_number: 1, minor_number: 31, patch: 2 } },
          locality: { region: 'r1', zone: 'z1', sub_zone: 's1' },
          client_features: ['xds.config.supports-resource-ttl'],
          metadata: { fields: { team: { stringValue: 'pay' }, n: { numberValue: 2 }, list: { listValue: { values: [{ boolValue: true }] } } } },
        },
      }),
    );
    expect(request.versionInfo).toBe('v1');
    expect(request.typeUrl).toBe(TypeUrl.Cluster);
    expect(request.resourceNames).toEqual(['a', 'b']);
    expect(request.responseNonce).toBe('n1');
    expect(request.errorDetail).toBeUndefined();
    expect(request.node).toEqual({
      id: 'payments-1',
      cluster: 'payments',
      userAgentName: 'envoy',
      userAgentVersion: '1.31.2',
      locality: { region: 'r1', zone: 'z1', subZone: 's1' },
      clientFeatures: ['xds.config.supports-resource-ttl'],
      metadata: { team: 'pay', n: 2, list: [true] },
    });
  });

  it('reads a NACK error_detail and leaves node undefined when absent', () => {
    const request = decoder.decodeSotw(sotw({ type_url: TypeUrl.Listener, response_nonce: 'n2', error_detail: { code: 13, message: 'bad listener' } }));
    expect(request.node).toBeUndefined();
    expect(request.errorDetail).toEqual({ code: 13, message: 'bad listener' });
  });

  it('decodes a DeltaDiscoveryRequest with initial versions', () => {
    const request = decoder.decodeDelta(
      delta({
        type_url: TypeUrl.ClusterLoadAssignment,
        resource_names_subscribe: ['a'],
        resource_names_unsubscribe: ['b'],
        initial_resource_versions: { a: 'v1' },
        response_nonce: 'n3',
      }),
    );
    expect(request.subscribe).toEqual(['a']);
    expect(request.unsubscribe).toEqual(['b']);
    expect([...request.initialVersions]).toEqual([['a', 'v1']]);
    expect(request.responseNonce).toBe('n3');
  });

  it('refuses too many names and malformed bytes with a message naming the field', () => {
    expect(() => decoder.decodeSotw(sotw({ resource_names: ['a', 'b', 'c', 'd'] }))).toThrow(/resource_names: 4 names exceed the limit of 3/);
    expect(() => decoder.decodeDelta(delta({ resource_names_subscribe: ['a', 'b'], resource_names_unsubscribe: ['c', 'd'] }))).toThrow(
      BadRequestError,
    );
    expect(() => decoder.decodeDelta(delta({ initial_resource_versions: { a: '1', b: '1', c: '1', d: '1' } }))).toThrow(
      /initial_resource_versions/,
    );
    expect(() => decoder.decodeSotw(Buffer.from([0x0a, 0xff, 0xff, 0xff]))).toThrow(/malformed DiscoveryRequest/);
  });
});

describe('RequestDecoder without node', () => {
  it('skips the node on later requests but reads every other field the same way', () => {
    const withNode = {
      node: { id: 'n1', metadata: { fields: { a: { stringValue: 'b' } } } },
      version_info: 'v',
      type_url: TypeUrl.Cluster,
      resource_names: ['a'],
      response_nonce: 'n',
      error_detail: { code: 13, message: 'no' },
    };
    const full = decoder.decodeSotw(sotw(withNode));
    const lite = decoder.decodeSotw(sotw(withNode), false);
    expect(lite.node).toBeUndefined();
    expect({ ...lite, node: full.node }).toEqual(full);
    const deltaBytes = delta({
      node: { id: 'n1' },
      type_url: TypeUrl.Cluster,
      resource_names_subscribe: ['a'],
      resource_names_unsubscribe: ['b'],
      initial_resource_versions: { a: '1' },
      response_nonce: 'n',
      error_detail: { code: 13, message: 'no' },
    });
    const fullDelta = decoder.decodeDelta(deltaBytes);
    const liteDelta = decoder.decodeDelta(deltaBytes, false);
    expect(liteDelta.node).toBeUndefined();
    expect({ ...liteDelta, node: fullDelta.node }).toEqual(fullDelta);
  });
});
