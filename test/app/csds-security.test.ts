// Issue #9 item 1: CSDS on the xDS port answered anyone, with every proxy's private key in it.
// Tried here as an attacker would: no token, a wrong token, a workload's own token, with and
// without xDS TLS. Only the operator token reads client status, and no answer ever carries key
// material, whatever exclude_resource_contents says.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { counterValue } from '../support/xds-harness.js';
import { XdsCodec, XdsTestClient, type Decoded } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

const PRIVATE_KEY = 'PRIVATE KEY';
const codec = new XdsCodec(loadEnvoyProtos());

interface GenericConfig {
  type_url: string;
  name: string;
  version_info: string;
  client_status: string;
  xds_config?: Decoded | null;
}

describe.each([{ tls: false }, { tls: true }])('CSDS as an attacker sees it (xDS TLS: $tls)', ({ tls }) => {
  let accord: TestAccord;
  let workloadId: string;
  let workloadToken: string;
  let credentials: () => grpc.ChannelCredentials;
  const clients: XdsTestClient[] = [];
  const client = (statusMetadata: Record<string, string> | null): XdsTestClient => {
    const c = new XdsTestClient(accord.xds, codec, { credentials: credentials(), statusMetadata });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    accord = await startTestAccord(tls ? { xdsTls: true } : {});
    const bundle = tls ? (await api(accord, 'GET', '/v1/ca/bundle')).text : '';
    credentials = () =>
      tls ? grpc.credentials.createSsl(Buffer.from(bundle), null, null, { checkServerIdentity: () => undefined }) : grpc.credentials.createInsecure();
    const registered = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'web', address: '10.0.0.1', port: 8080, upstreams: [{ service: 'api', localPort: 9001 }] } }))
      .body as { id: string; token: string };
    workloadId = registered.id;
    workloadToken = registered.token;
    // The victim: a sidecar that holds its certificate and key, so the server's stream state has them.
    const sidecar = new XdsTestClient(accord.xds, codec, { credentials: credentials(), metadata: { authorization: `Bearer ${workloadToken}` } });
    clients.push(sidecar);
    const stream = sidecar.sotw();
    stream.send({ node: { id: workloadId, user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Cluster, resource_names: [] });
    stream.send({ node: { id: workloadId, user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Secret, resource_names: ['default'] });
    const secret = await stream.nextOfType(TypeUrl.Secret, 20_000);
    // The owner does get its key: what follows is about everyone else.
    expect(JSON.stringify(codec.decodeAny(secret.resources[0] as { type_url: string; value: Uint8Array }))).toContain(PRIVATE_KEY);
    stream.send({ type_url: TypeUrl.Secret, version_info: secret.version_info, response_nonce: secret.nonce, resource_names: ['default'] });
    await stream.nextOfType(TypeUrl.Cluster, 20_000);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await accord.close();
  });

  const attackers = [
    { who: 'no token', metadata: null, code: 'UNAUTHENTICATED' },
    { who: 'a wrong token', metadata: { authorization: 'Bearer not-the-operator' }, code: 'PERMISSION_DENIED' },
    { who: "the workload's own token", metadata: (): Record<string, string> => ({ authorization: `Bearer ${workloadToken}` }), code: 'PERMISSION_DENIED' },
  ] as const;

  for (const attacker of attackers) {
    it(`FetchClientStatus and StreamClientStatus refuse ${attacker.who}, log why and count it`, async () => {
      const metadata = typeof attacker.metadata === 'function' ? attacker.metadata() : attacker.metadata;
      const before = await counterValue(accord.handle.metrics, 'accord_xds_status_denied_total').catch(() => 0);
      const c = client(metadata);
      for (const exclude of [false, true]) {
        const fetched = await c.fetchClientStatusBytes({ exclude_resource_contents: exclude }).then(
          (bytes) => ({ ok: true as const, bytes }),
          (error: grpc.ServiceError) => ({ ok: false as const, error }),
        );
        expect(fetched.ok, fetched.ok ? `answered ${fetched.bytes.length} bytes; private key inside: ${fetched.bytes.includes(PRIVATE_KEY)}` : '').toBe(false);
        if (!fetched.ok) expect(grpc.status[fetched.error.code]).toBe(attacker.code);
      }
      const stream = c.csdsStream();
      stream.send({ exclude_resource_contents: false });
      const end = await stream.ended(10_000);
      expect(grpc.status[end.code]).toBe(attacker.code);
      expect(stream.received).toHaveLength(0);
      expect(await counterValue(accord.handle.metrics, 'accord_xds_status_denied_total', { code: attacker.code })).toBeGreaterThanOrEqual(3);
      expect(await counterValue(accord.handle.metrics, 'accord_xds_status_denied_total')).toBeGreaterThan(before);
      const denial = accord.logs.find((line) => line.includes('client status (CSDS) call denied') && line.includes(`"code":"${attacker.code}"`));
      expect(denial).toBeDefined();
      expect(denial).toMatch(/"reason":"[^"]+"/);
      expect(denial).not.toContain(workloadToken);
    });
  }

  it('the operator reads status by name, version and state: secrets without contents, other contents shown, no key bytes anywhere', async () => {
    const operator = client({ authorization: `Bearer ${accord.token}` });
    for (const exclude of [false, true]) {
      const bytes = await operator.fetchClientStatusBytes({ exclude_resource_contents: exclude });
      expect(bytes.includes(PRIVATE_KEY)).toBe(false);
      const decoded = codec.decode<{ config: { node: { id: string }; generic_xds_configs: GenericConfig[] }[] }>(codec.clientStatusResponse, bytes);
      const mine = decoded.config.find((c) => c.node.id === workloadId);
      const secret = mine?.generic_xds_configs.find((c) => c.type_url === TypeUrl.Secret && c.name === 'default');
      expect(secret?.version_info).toMatch(/.+/);
      expect(secret?.client_status).toBe('ACKED');
      expect(secret?.xds_config ?? null).toBeNull();
      const cluster = mine?.generic_xds_configs.find((c) => c.type_url === TypeUrl.Cluster);
      expect(cluster).toBeDefined();
      if (exclude) expect(cluster?.xds_config ?? null).toBeNull();
      else expect(cluster?.xds_config).toBeTruthy();
    }
    const stream = operator.csdsStream();
    for (const exclude of [false, true]) {
      stream.send({ exclude_resource_contents: exclude, node_matchers: [{ node_id: { exact: workloadId } }] });
      const answer = await stream.next(10_000);
      expect(answer.config).toHaveLength(1);
      const configs = (answer.config[0]?.generic_xds_configs ?? []) as { type_url: string; xds_config?: { value?: Uint8Array } | null }[];
      expect(configs.length).toBeGreaterThan(0);
      for (const config of configs) {
        if (config.type_url === TypeUrl.Secret) expect(config.xds_config ?? null).toBeNull();
        expect(Buffer.from(config.xds_config?.value ?? new Uint8Array()).includes(PRIVATE_KEY)).toBe(false);
      }
    }
    stream.close();
  });
});
