import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

const codec = new XdsCodec(loadEnvoyProtos());

const GATEWAY = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: accord
  listeners:
    - { name: shop, hostname: shop.example.com, port: 8443, protocol: HTTPS, tls: { certificateRefs: [{ name: shop-cert }] } }
`;

interface Registered {
  id: string;
  token: string;
}

function node(id: string): Record<string, unknown> {
  return { id, cluster: 'test', user_agent_name: 'envoy' };
}

describe('a gateway\'s user certificates over SDS', () => {
  let accord: TestAccord;
  let edge: Registered;
  let orders: Registered;
  const clients: XdsTestClient[] = [];
  const client = (token: string): XdsTestClient => {
    const c = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${token}` } });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    accord = await startTestAccord();
    expect((await api(accord, 'PUT', '/v1/policies', { yaml: GATEWAY })).status).toBe(200);
    edge = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'edge', namespace: 'shop', address: '127.0.0.1', port: 15000, gateway: { certificateDirectory: '/srv/certs' } } })).body as Registered;
    orders = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'orders', namespace: 'shop', address: '127.0.0.1', port: 9001 } })).body as Registered;
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await accord.close();
  });

  it('gives the gateway its certificate as file names on its host, never key material', async () => {
    const stream = client(edge.token).sotw();
    stream.send({ node: node(edge.id), type_url: TypeUrl.Secret, resource_names: ['gateway/shop/shop-cert'] });
    const response = await stream.nextOfType(TypeUrl.Secret, 10_000);
    const secrets = response.resources.map((any) => codec.decodeAny(any));
    const secret = secrets.find((s) => s.name === 'gateway/shop/shop-cert');
    expect(secret).toMatchObject({
      name: 'gateway/shop/shop-cert',
      tls_certificate: {
        certificate_chain: { filename: '/srv/certs/shop/shop-cert/tls.crt' },
        private_key: { filename: '/srv/certs/shop/shop-cert/tls.key' },
        watched_directory: { path: '/srv/certs/shop/shop-cert' },
      },
    });
    const keyMaterial = (secret?.tls_certificate as { private_key: Record<string, unknown>; certificate_chain: Record<string, unknown> }) ?? {};
    for (const source of [keyMaterial.private_key, keyMaterial.certificate_chain]) {
      expect(source?.inline_string ?? null).toBeNull();
      expect(source?.inline_bytes ?? null).toBeNull();
    }
    expect(JSON.stringify(secret)).not.toContain('BEGIN');
    stream.close();
  });

  it('refuses the gateway\'s certificate to any other workload (PERMISSION_DENIED)', async () => {
    const stream = client(orders.token).sotw();
    stream.send({ node: node(orders.id), type_url: TypeUrl.Secret, resource_names: ['gateway/shop/shop-cert'] });
    const end = await stream.ended(10_000);
    expect(end.code).toBe(7);
    expect(end.details).toContain('gateway/shop/shop-cert');
  });

  it('refuses it just the same to a workload that asks before its registration reached the mesh state', async () => {
    const late = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'billing', namespace: 'shop', address: '127.0.0.1', port: 9002 } })).body as Registered;
    const stream = client(late.token).sotw();
    stream.send({ node: node(late.id), type_url: TypeUrl.Secret, resource_names: ['default', 'gateway/shop/shop-cert'] });
    const end = await stream.ended(10_000);
    expect(end.code).toBe(7);
    expect(end.details).toContain('gateway/shop/shop-cert');
    const served = stream.received.flatMap((response) => response.resources.map((any) => String(codec.decodeAny(any).name)));
    expect(served).not.toContain('gateway/shop/shop-cert');
  });
});
