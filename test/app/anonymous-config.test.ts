import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

describe('anonymous config-only xDS (Mesh.spec.allowAnonymousConfig)', () => {
  let accord: TestAccord;
  let client: XdsTestClient;
  let workloadId: string;

  beforeAll(async () => {
    accord = await startTestAccord();
    const mesh = 'apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\nspec:\n  allowAnonymousConfig: true\n';
    expect((await api(accord, 'PUT', '/v1/policies', { yaml: mesh })).status).toBe(200);
    workloadId = ((await api(accord, 'POST', '/v1/workloads', { body: { service: 'web', address: '10.0.0.1', port: 8080, upstreams: [{ service: 'api', localPort: 9001 }] } })).body as { id: string }).id;
    client = new XdsTestClient(accord.xds, new XdsCodec(loadEnvoyProtos()));
    await new Promise((r) => setTimeout(r, 300));
  });
  afterAll(async () => {
    client.close();
    await accord.close();
  });

  const node = (): { id: string; user_agent_name: string; locality: { zone: string } } => ({ id: workloadId, user_agent_name: 'envoy', locality: { zone: 'z' } });

  it('serves configuration to a stream without a token', async () => {
    const stream = client.sotw();
    stream.send({ node: node(), type_url: TypeUrl.Cluster, resource_names: [] });
    const clusters = await stream.nextOfType(TypeUrl.Cluster, 5000);
    expect(clusters.resources.length).toBeGreaterThan(0);
    stream.close();
  });

  it('never gives such a stream a secret', async () => {
    const stream = client.sotw();
    stream.send({ node: node(), type_url: TypeUrl.Secret, resource_names: ['default'] });
    const end = await stream.ended(5000);
    expect(end.code).toBe(7);
    expect(end.details).toContain('anonymous');
  });
});
