import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ackOf } from '../support/ads-client.js';
import { RedisServerProcess } from '../registry/redis-server-process.js';
import { AccordProcess, waitFor } from './processes.js';

const codec = new XdsCodec(loadEnvoyProtos());

describe('Redis outage (own redis-server with AOF)', () => {
  let redis: RedisServerProcess;
  let accord: AccordProcess;
  let client: XdsTestClient;

  beforeAll(async () => {
    redis = await RedisServerProcess.start();
    accord = await AccordProcess.start(['--redis', redis.url]);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await accord?.stop();
    await redis?.destroy();
  });

  it('answers 503 while Redis is down, keeps serving xDS, and recovers with no lost writes', async () => {
    const before = (await accord.request('POST', '/v1/workloads', { service: 'orders', address: '127.0.0.1', port: 7001, upstreams: [{ service: 'payments', localPort: 9001 }] }))
      .body as { id: string; token: string };
    const payments = await accord.request('POST', '/v1/workloads', { service: 'payments', address: '10.1.1.1', port: 8080 });
    expect(payments.status).toBe(201);

    client = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${before.token}` } });
    const node = { id: before.id, cluster: 'orders', user_agent_name: 'envoy', locality: { zone: 'z1' } };
    const stream = client.sotw();
    stream.send({ node, type_url: TypeUrl.Cluster, resource_names: [] });
    const cds = await stream.nextOfType(TypeUrl.Cluster, 10_000);
    stream.send(ackOf(cds, []));

    await redis.kill();

    const during = await accord.request('POST', '/v1/workloads', { service: 'payments', address: '10.1.1.2', port: 8080 });
    expect(during.status).toBe(503);
    expect(JSON.stringify(during.body)).toMatch(/UNAVAILABLE/);
    expect(JSON.stringify(during.body)).not.toMatch(/\.js:\d+/);

    // xDS keeps serving the last state: a new stream from the same workload still gets its clusters.
    const second = client.sotw();
    second.send({ node, type_url: TypeUrl.Cluster, resource_names: [] });
    const again = await second.nextOfType(TypeUrl.Cluster, 10_000);
    expect(again.version_info).toBe(cds.version_info);
    expect((await fetch(`${accord.http}/healthz`)).status).toBe(200);

    await redis.restart();
    const after = await waitFor(
      async () => {
        const response = await accord.request('POST', '/v1/workloads', { service: 'payments', address: '10.1.1.3', port: 8080 });
        return response.status === 201 ? response : undefined;
      },
      20_000,
      'registrations to succeed again',
    );
    expect(after.status).toBe(201);
    const listed = (await accord.request('GET', '/v1/workloads')).body as { workloads: { id: string; address: string }[] };
    const addresses = listed.workloads.map((w) => w.address);
    expect(addresses).toEqual(expect.arrayContaining(['127.0.0.1', '10.1.1.1', '10.1.1.3']));
    expect(addresses).not.toContain('10.1.1.2');
  }, 90_000);
});
