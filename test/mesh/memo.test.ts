import { describe, expect, it } from 'vitest';
import { MeshTranslator, type MeshInput } from '../../src/mesh/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { scenarioFrom, type ScenarioFile } from './support/scenario.js';

const base: ScenarioFile = {
  workloads: [
    { id: 'orders-1', service: 'orders', address: '10.0.0.1', port: 8080, meshPort: 15006, upstreams: [{ service: 'payments', localPort: 9001 }] },
    { id: 'orders-2', service: 'orders', address: '10.0.0.2', port: 8080, meshPort: 15006, upstreams: [{ service: 'payments', localPort: 9001 }] },
    { id: 'shipping-1', service: 'shipping', address: '10.0.0.3', port: 8080, meshPort: 15006, upstreams: [{ service: 'payments', localPort: 7000 }] },
    { id: 'payments-1', service: 'payments', address: '10.0.1.1', port: 8080, meshPort: 15006 },
    { id: 'audit-1', service: 'audit', address: '10.0.2.1', port: 8080, meshPort: 15006 },
  ],
};

function input(file: ScenarioFile, revision = 1): MeshInput {
  return scenarioFrom({ ...file, revision }).input;
}

function withWorkloads(file: ScenarioFile, extra: NonNullable<ScenarioFile['workloads']>): ScenarioFile {
  return { ...file, workloads: [...(file.workloads ?? []), ...extra] };
}

const cluster = (t: MeshTranslator, i: MeshInput, id: string): unknown =>
  t.translate(i, id, 'envoy').get(TypeUrl.Cluster)?.get('outbound.payments.default');
const cla = (t: MeshTranslator, i: MeshInput, id: string): unknown =>
  t.translate(i, id, 'envoy').get(TypeUrl.ClusterLoadAssignment)?.get('outbound.payments.default');

describe('memoisation', () => {
  it('returns the same objects when a new snapshot has identical inputs', () => {
    const translator = new MeshTranslator();
    const first = translator.translate(input(base, 1), 'orders-1', 'envoy');
    const second = translator.translate(input(base, 2), 'orders-1', 'envoy');
    expect(second).toBe(first);
  });

  it('shares one generation between proxies with identical inputs', () => {
    const translator = new MeshTranslator();
    const snapshot = input(base);
    expect(translator.inputKey(snapshot, 'orders-1', 'envoy')).toBe(translator.inputKey(snapshot, 'orders-2', 'envoy'));
    expect(translator.translate(snapshot, 'orders-2', 'envoy')).toBe(translator.translate(snapshot, 'orders-1', 'envoy'));
  });

  it('shares a destination service’s clusters and CLAs among all its callers', () => {
    const translator = new MeshTranslator();
    const snapshot = input(base);
    expect(cluster(translator, snapshot, 'shipping-1')).toBe(cluster(translator, snapshot, 'orders-1'));
    expect(cla(translator, snapshot, 'shipping-1')).toBe(cla(translator, snapshot, 'orders-1'));
    expect(translator.translate(snapshot, 'shipping-1', 'envoy')).not.toBe(translator.translate(snapshot, 'orders-1', 'envoy'));
  });

  it('keeps everything when only an irrelevant input changes', () => {
    const translator = new MeshTranslator();
    const before = input(base, 1);
    const key = translator.inputKey(before, 'orders-1', 'envoy');
    const resources = translator.translate(before, 'orders-1', 'envoy');
    const unrelated = withWorkloads(base, [{ id: 'audit-2', service: 'audit', address: '10.0.2.2', port: 8080, meshPort: 15006 }]);
    const debounce: ScenarioFile = { ...unrelated, mesh: { debounce: { quietMs: 5, maxDelayMs: 50 }, allowAnonymousConfig: true } };
    const after = input(debounce, 2);
    expect(translator.inputKey(after, 'orders-1', 'envoy')).toBe(key);
    expect(translator.translate(after, 'orders-1', 'envoy')).toBe(resources);
  });

  it('regenerates when a relevant input changes, keeping unchanged pieces by identity', () => {
    const translator = new MeshTranslator();
    const before = input(base, 1);
    const old = translator.translate(before, 'orders-1', 'envoy');
    const oldCluster = cluster(translator, before, 'orders-1');
    const oldCla = cla(translator, before, 'orders-1');

    const after = input(withWorkloads(base, [{ id: 'payments-2', service: 'payments', address: '10.0.1.2', port: 8080, meshPort: 15006 }]), 2);
    const fresh = translator.translate(after, 'orders-1', 'envoy');
    expect(fresh).not.toBe(old);
    expect(cla(translator, after, 'orders-1')).not.toBe(oldCla);
    // Same service account: the cluster content is unchanged, so is its identity.
    expect(cluster(translator, after, 'orders-1')).toBe(oldCluster);
    const listeners = fresh.get(TypeUrl.Listener);
    const oldListeners = old.get(TypeUrl.Listener);
    expect(listeners?.get('inbound|15006')).toBe(oldListeners?.get('inbound|15006'));
    expect(listeners?.get('outbound|9001')).toBe(oldListeners?.get('outbound|9001'));
  });

  it('keeps an unchanged cluster’s identity across a rebuild of its service, for new callers too', () => {
    const translator = new MeshTranslator();
    const oldCluster = cluster(translator, input(base, 1), 'orders-1');
    const after = input(withWorkloads(base, [{ id: 'payments-2', service: 'payments', address: '10.0.1.2', port: 8080, meshPort: 15006 }]), 2);
    expect(cluster(translator, after, 'shipping-1')).toBe(oldCluster);
  });

  it('changes the cluster when the destination gains a service account', () => {
    const translator = new MeshTranslator();
    const before = input(base, 1);
    const oldCluster = cluster(translator, before, 'orders-1');
    const after = input(
      withWorkloads(base, [{ id: 'payments-2', service: 'payments', serviceAccount: 'payments-canary', address: '10.0.1.2', port: 8080, meshPort: 15006 }]),
      2,
    );
    expect(cluster(translator, after, 'orders-1')).not.toBe(oldCluster);
    expect(JSON.stringify(cluster(translator, after, 'orders-1'))).toContain('spiffe://mesh.local/ns/default/sa/payments-canary');
  });

  it('changes the key for a TrafficPolicy, an AuthorizationPolicy or mesh settings that apply', () => {
    const translator = new MeshTranslator();
    const key = (file: ScenarioFile): string => translator.inputKey(input(file), 'orders-1', 'envoy');
    const original = key(base);
    expect(key({ ...base, trafficPolicies: [{ metadata: { name: 'p' }, spec: { target: 'payments', connectTimeoutMs: 100 } }] })).not.toBe(original);
    expect(key({ ...base, trafficPolicies: [{ metadata: { name: 'a' }, spec: { target: 'audit', connectTimeoutMs: 100 } }] })).toBe(original);
    expect(key({ ...base, authorizationPolicies: [{ metadata: { name: 'o' }, spec: { target: 'orders', action: 'ALLOW', rules: [] } }] })).not.toBe(
      original,
    );
    expect(key({ ...base, authorizationPolicies: [{ metadata: { name: 'a' }, spec: { target: 'audit', action: 'ALLOW', rules: [] } }] })).toBe(original);
    expect(key({ ...base, mesh: { mtls: 'PERMISSIVE' } })).not.toBe(original);
    expect(key({ ...base, mesh: { trustDomain: 'other.example' } })).not.toBe(original);
    expect(key({ ...base, mesh: { certificates: { ttlMs: 3_600_000 } } })).not.toBe(original);
  });

  it('changes the key when a caller service named in a policy gains a service account', () => {
    const translator = new MeshTranslator();
    const file: ScenarioFile = {
      ...base,
      authorizationPolicies: [{ metadata: { name: 'p' }, spec: { target: 'payments', action: 'ALLOW', rules: [{ from: [{ service: 'orders' }] }] } }],
    };
    const before = translator.inputKey(input(file), 'payments-1', 'envoy');
    const after = translator.inputKey(
      input(withWorkloads(file, [{ id: 'orders-3', service: 'orders', serviceAccount: 'orders-v2', address: '10.0.0.9', port: 8080 }])),
      'payments-1',
      'envoy',
    );
    expect(after).not.toBe(before);
  });

  it('keys the flavours apart', () => {
    const translator = new MeshTranslator();
    const snapshot = input(base);
    expect(translator.inputKey(snapshot, 'orders-1', 'grpc')).not.toBe(translator.inputKey(snapshot, 'orders-1', 'envoy'));
  });

  it('forgets a workload’s generation when no other proxy shares it', () => {
    const translator = new MeshTranslator();
    const snapshot = input(base);
    const first = translator.translate(snapshot, 'shipping-1', 'envoy');
    translator.forget('shipping-1');
    const again = translator.translate(snapshot, 'shipping-1', 'envoy');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });
});

describe('cache bounds', () => {
  it('forgets a workload missing from a newly seen snapshot', () => {
    const translator = new MeshTranslator();
    const first = translator.translate(input(base, 1), 'shipping-1', 'envoy');
    const withoutShipping: ScenarioFile = { ...base, workloads: base.workloads?.filter((w) => w.id !== 'shipping-1') };
    translator.translate(input(withoutShipping, 2), 'orders-1', 'envoy');
    const again = translator.translate(input(base, 3), 'shipping-1', 'envoy');
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
  });

  it('keeps a generation another proxy still holds', () => {
    const translator = new MeshTranslator();
    const shared = translator.translate(input(base, 1), 'orders-1', 'envoy');
    expect(translator.translate(input(base, 1), 'orders-2', 'envoy')).toBe(shared);
    translator.forget('orders-1');
    expect(translator.translate(input(base, 2), 'orders-2', 'envoy')).toBe(shared);
  });

  it('a TrafficPolicy change of one destination swaps its resources into the callers’ generations, the rest kept by identity', () => {
    // A TCP destination: its split weights are in the caller's outbound listener (tcp_proxy), not in a route.
    const tcp: ScenarioFile = {
      workloads: [
        { id: 'orders-1', service: 'orders', address: '10.0.0.1', port: 8080, meshPort: 15006, upstreams: [{ service: 'payments', localPort: 9001 }, { service: 'ledger', localPort: 9002 }] },
        { id: 'payments-1', service: 'payments', address: '10.0.1.1', port: 8080, meshPort: 15006 },
        { id: 'ledger-a', service: 'ledger', address: '10.0.2.1', port: 5432, meshPort: 15432, protocol: 'tcp', labels: { track: 'stable' } },
        { id: 'ledger-b', service: 'ledger', address: '10.0.2.2', port: 5432, meshPort: 15432, protocol: 'tcp', labels: { track: 'canary' } },
      ],
    };
    const split = (canary: number): ScenarioFile => ({
      ...tcp,
      trafficPolicies: [
        {
          metadata: { name: 'ledger' },
          spec: {
            target: 'ledger',
            split: [
              { name: 'stable', labels: { track: 'stable' }, weight: 100 - canary },
              { name: 'canary', labels: { track: 'canary' }, weight: canary },
            ],
          },
        },
      ],
    });
    const translator = new MeshTranslator();
    const before = translator.translate(input(split(10), 1), 'orders-1', 'envoy');
    const afterInput = input(split(30), 2);
    const after = translator.translate(afterInput, 'orders-1', 'envoy');
    expect(after).toEqual(new MeshTranslator().translate(afterInput, 'orders-1', 'envoy'));
    const listeners = after.get(TypeUrl.Listener);
    expect(listeners?.get('outbound|9002')).not.toBe(before.get(TypeUrl.Listener)?.get('outbound|9002'));
    expect(JSON.stringify(listeners?.get('outbound|9002'))).toContain('"weight":30');
    // What the change did not reach keeps its identity: the inbound side, the other destination, the maps of unchanged types.
    expect(listeners?.get('inbound|15006')).toBe(before.get(TypeUrl.Listener)?.get('inbound|15006'));
    expect(listeners?.get('outbound|9001')).toBe(before.get(TypeUrl.Listener)?.get('outbound|9001'));
    expect(after.get(TypeUrl.Cluster)).toBe(before.get(TypeUrl.Cluster));
    expect(after.get(TypeUrl.RouteConfiguration)).toBe(before.get(TypeUrl.RouteConfiguration));
  });
});
