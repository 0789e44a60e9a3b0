import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ackOf, type DiscoveryResponse, type SotwStream } from '../support/ads-client.js';
import { AccordProcess, waitFor } from './processes.js';

const codec = new XdsCodec(loadEnvoyProtos());
const REDIS = 'redis://127.0.0.1:6379';

function decoded(response: DiscoveryResponse): Record<string, unknown>[] {
  return response.resources.map((any) => codec.decodeAny(any));
}

function addressesIn(cla: Record<string, unknown>): string[] {
  const localities = (cla.endpoints as { lb_endpoints?: { endpoint?: { address?: { socket_address?: { address?: string } } } }[] }[] | undefined) ?? [];
  return localities.flatMap((l) => (l.lb_endpoints ?? []).map((e) => e.endpoint?.address?.socket_address?.address ?? ''));
}

describe('two accord serve --redis replicas', () => {
  const prefix = `accord-e2e-${randomBytes(4).toString('hex')}`;
  let a: AccordProcess;
  let b: AccordProcess;
  let client: XdsTestClient;

  beforeAll(async () => {
    a = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
    b = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix]);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    const redis = new Redis(REDIS);
    const keys = await redis.keys(`${prefix}*`);
    const tagged = await redis.keys(`{${prefix}}*`);
    if (keys.length + tagged.length > 0) await redis.del(...keys, ...tagged);
    await redis.quit();
  });

  it('share one CA: both serve the same trust bundle', async () => {
    const bundleA = await (await fetch(`${a.http}/v1/ca/bundle`)).text();
    const bundleB = await (await fetch(`${b.http}/v1/ca/bundle`)).text();
    expect(bundleA).toContain('BEGIN CERTIFICATE');
    expect(bundleB).toBe(bundleA);
  });

  it("a registration on one appears in the other's EDS", async () => {
    const caller = (await a.request('POST', '/v1/workloads', {
      service: 'orders',
      address: '127.0.0.1',
      port: 7001,
      upstreams: [{ service: 'payments', localPort: 9001 }],
    })).body as { id: string; token: string };
    expect(caller.id).toBeTruthy();

    client = new XdsTestClient(b.xds, codec, { metadata: { authorization: `Bearer ${caller.token}` } });
    const stream: SotwStream = client.sotw();
    const node = { id: caller.id, cluster: 'orders', user_agent_name: 'envoy', locality: { zone: 'z1' } };
    stream.send({ node, type_url: TypeUrl.Cluster, resource_names: [] });
    // B learns about the caller through the change feed; then it sends the caller's clusters.
    const cds = await stream.nextOfType(TypeUrl.Cluster, 10_000);
    stream.send(ackOf(cds, []));
    const edsNames = decoded(cds)
      .filter((c) => c.type === 'EDS')
      .map((c) => String((c.eds_cluster_config as { service_name?: string } | undefined)?.service_name || c.name));
    expect(edsNames.length).toBeGreaterThan(0);
    stream.send({ type_url: TypeUrl.ClusterLoadAssignment, resource_names: edsNames });

    const registeredAt = Date.now();
    const created = await a.request('POST', '/v1/workloads', { service: 'payments', address: '10.9.8.7', port: 8443 });
    expect(created.status).toBe(201);
    const seen = await waitFor(
      async () => {
        const response = await stream.nextOfType(TypeUrl.ClusterLoadAssignment, 5000);
        stream.send(ackOf(response, edsNames));
        return decoded(response).some((cla) => addressesIn(cla).includes('10.9.8.7')) ? Date.now() : undefined;
      },
      15_000,
      'the new endpoint in replica B',
    );
    expect(seen - registeredAt).toBeLessThan(15_000);
  });

  it('kill -9 of one replica mid-run loses no acknowledged registration', async () => {
    const acknowledged: string[] = [];
    let failures = 0;
    let killed = false;
    for (let i = 0; i < 400 && failures < 5; i += 1) {
      if (acknowledged.length === 40 && !killed) {
        a.kill9();
        killed = true;
      }
      try {
        const response = await a.request('POST', '/v1/workloads', { service: 'inventory', address: `10.0.${Math.floor(i / 250)}.${(i % 250) + 1}`, port: 8080 });
        if (response.status === 201) acknowledged.push((response.body as { id: string }).id);
        else failures += 1;
      } catch {
        failures += 1;
      }
    }
    expect(killed).toBe(true);
    expect(acknowledged.length).toBeGreaterThanOrEqual(40);
    const listed = (await b.request('GET', '/v1/workloads')).body as { workloads: { id: string }[] };
    const ids = new Set(listed.workloads.map((w) => w.id));
    const lost = acknowledged.filter((id) => !ids.has(id));
    expect(lost).toEqual([]);
    // And B's mirror (what xDS reads) has them too: its services list is derived from the store,
    // so check readiness still reports a synced registry.
    expect((await fetch(`${b.http}/readyz`)).status).toBe(200);
  });
});
