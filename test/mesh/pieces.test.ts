import { describe, expect, it } from 'vitest';
import { clusterLoadAssignment } from '../../src/mesh/endpoints.js';
import type { LocalityPlan } from '../../src/mesh/locality.js';

const NO_LOCALITY: LocalityPlan = { kind: 'none' };
import { MeshIndex } from '../../src/mesh/model.js';
import * as names from '../../src/mesh/names.js';
import { clusterTargets, inSubset } from '../../src/mesh/subsets.js';
import { scenarioFrom, workloadFrom } from './support/scenario.js';

describe('subsets', () => {
  const index = new MeshIndex(
    scenarioFrom({
      workloads: [
        { id: 'r-1', service: 'reviews', address: '10.0.0.1', port: 80, labels: { version: 'v1' } },
        { id: 'r-2', service: 'reviews', address: '10.0.0.2', port: 80, labels: { version: 'v2', track: 'canary' } },
      ],
      trafficPolicies: [
        {
          metadata: { name: 'split' },
          spec: {
            target: 'reviews',
            split: [
              { name: 'v1', labels: { version: 'v1' }, weight: 90 },
              { name: 'canary', labels: { version: 'v2', track: 'canary' }, weight: 10 },
              { name: 'off', labels: { version: 'v0' }, weight: 0 },
            ],
          },
        },
      ],
    }).input,
  );

  it('makes one cluster per subset with positive weight', () => {
    expect(clusterTargets(index.service('default', 'reviews')).map((t) => [t.clusterName, t.weight])).toEqual([
      ['outbound.v1.reviews.default', 90],
      ['outbound.canary.reviews.default', 10],
    ]);
  });

  it('makes the single service cluster without a split', () => {
    expect(clusterTargets(index.service('default', 'other')).map((t) => t.clusterName)).toEqual(['outbound.other.default']);
  });

  it('selects workloads carrying all of a subset’s labels', () => {
    const canary = workloadFrom({ id: 'x', service: 's', address: '10.0.0.3', port: 1, labels: { version: 'v2', track: 'canary' } });
    expect(inSubset(canary, { version: 'v2' })).toBe(true);
    expect(inSubset(canary, { version: 'v2', track: 'canary' })).toBe(true);
    expect(inSubset(canary, { version: 'v2', track: 'stable' })).toBe(false);
    expect(inSubset(canary, {})).toBe(true);
  });

  it('filters a subset’s CLA by its labels', () => {
    const service = index.service('default', 'reviews');
    const [v1, canary] = clusterTargets(service);
    expect(JSON.stringify(clusterLoadAssignment(v1, service.workloads, NO_LOCALITY).value)).toContain('10.0.0.1');
    expect(JSON.stringify(clusterLoadAssignment(v1, service.workloads, NO_LOCALITY).value)).not.toContain('10.0.0.2');
    expect(JSON.stringify(clusterLoadAssignment(canary, service.workloads, NO_LOCALITY).value)).toContain('10.0.0.2');
  });
});

describe('endpoints', () => {
  const service = new MeshIndex(
    scenarioFrom({
      workloads: [
        { id: 'p-1', service: 'p', address: '10.0.0.2', port: 80, meshPort: 15006, locality: { region: 'eu', zone: 'a' } },
        { id: 'p-2', service: 'p', address: '10.0.0.1', port: 80, meshPort: 15006, locality: { region: 'eu', zone: 'a' }, health: 'UNKNOWN' },
        { id: 'p-3', service: 'p', address: '10.0.0.3', port: 80, meshPort: 15006, locality: { region: 'eu', zone: 'b' }, health: 'DRAINING' },
        { id: 'p-4', service: 'p', address: 'p-4.local', port: 80, meshPort: 15006, locality: { region: 'eu', zone: 'b' } },
      ],
    }).input,
  ).service('default', 'p');
  const [target] = clusterTargets(service);

  it('groups usable endpoints by locality, weighted by their count, sorted by address', () => {
    const { value, notes } = clusterLoadAssignment(target, service.workloads, NO_LOCALITY);
    expect(value).toEqual({
      cluster_name: 'outbound.p.default',
      endpoints: [
        {
          locality: { region: 'eu', zone: 'a' },
          load_balancing_weight: { value: 2 },
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: 15006 } } }, health_status: 'UNKNOWN' },
            { endpoint: { address: { socket_address: { address: '10.0.0.2', port_value: 15006 } } }, health_status: 'HEALTHY' },
          ],
        },
      ],
    });
    expect(notes.map((n) => n.code)).toEqual(['ENDPOINT_NOT_IP']);
  });

  it('emits an empty CLA for a service without workloads', () => {
    expect(clusterLoadAssignment(target, [], NO_LOCALITY).value).toEqual({ cluster_name: 'outbound.p.default', endpoints: [] });
  });
});

describe('names', () => {
  it('names proxyless client listeners by dial target', () => {
    expect(names.grpcClientListenerNames('payments', 'default', 'default')).toEqual(['payments', 'payments.default']);
    expect(names.grpcClientListenerNames('payments', 'billing', 'default')).toEqual(['payments.billing']);
  });

  it('names the proxyless server listener by its exact bind address', () => {
    expect(names.grpcServerListenerName('10.0.0.1', 50051)).toBe('grpc/server?xds.resource.listening_address=10.0.0.1:50051');
    expect(names.grpcServerListenerName('::1', 50051)).toBe('grpc/server?xds.resource.listening_address=[::1]:50051');
  });

  it('gives clusters DNS-like names usable as SNI, subsets included', () => {
    expect(names.outboundClusterName('payments', 'default')).toBe('outbound.payments.default');
    expect(names.outboundClusterName('payments', 'default', 'v2')).toBe('outbound.v2.payments.default');
    expect(names.inboundClusterName(8080)).toBe('inbound|8080');
    expect(names.outboundListenerName(9001)).toBe('outbound|9001');
    expect(names.outboundRouteName('payments', 'default')).toBe('payments.default');
  });
});
