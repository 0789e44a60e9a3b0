import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

describe('leases and connected proxies', () => {
  let accord: TestAccord;
  beforeAll(async () => {
    accord = await startTestAccord({ leaseReconnectWindow: '1s' });
    // A replica that starts reaps nothing until it knows whether another was up (docs/registry.md, Leases).
    const deadline = Date.now() + 20_000;
    while (!accord.logs.some((line) => line.includes('every lease now ends no sooner')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 30_000);
  afterAll(async () => {
    await accord.close();
  });

  const registered = async (): Promise<string[]> => ((await api(accord, 'GET', '/v1/workloads')).body as { workloads: { id: string }[] }).workloads.map((w) => w.id);

  it("a connected sidecar's stream renews its workload's lease; without it the lease expires", async () => {
    const connected = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'kept', address: '10.0.0.1', port: 80, ttl: '2s' } })).body as { id: string; token: string };
    const idle = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'dropped', address: '10.0.0.2', port: 80, ttl: '2s' } })).body as { id: string };
    const client = new XdsTestClient(accord.xds, new XdsCodec(loadEnvoyProtos()), { metadata: { authorization: `Bearer ${connected.token}` } });
    try {
      const stream = client.sotw();
      stream.send({ node: { id: connected.id, user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Cluster, resource_names: [] });
      await stream.nextOfType(TypeUrl.Cluster, 5000);
      // Three lease lengths later: the idle workload was reaped, the connected one renewed.
      await new Promise((r) => setTimeout(r, 6000));
      const ids = await registered();
      expect(ids).toContain(connected.id);
      expect(ids).not.toContain(idle.id);
    } finally {
      client.close();
    }
    // Once its stream is gone, nothing renews it any more.
    const deadline = Date.now() + 10_000;
    while ((await registered()).includes(connected.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await registered()).not.toContain(connected.id);
  }, 30_000);
});
