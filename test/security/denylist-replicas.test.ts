import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsTestClient } from '../support/ads-client.js';
import { call, codec, envoyNode, register, twoRedisReplicas, whenRegistered, type Registered, type Running } from './support.js';

/** Issue #9, item 9: the token deny-list is shared by replicas through the store (Redis). */
describe('the token deny-list is shared by replicas (Redis)', () => {
  const replicas = twoRedisReplicas('deny');

  /** How a CDS stream opened on `replica` with `token` answers. */
  const openOn = async (replica: Running, workload: Registered, token = workload.token): Promise<string> => {
    const client = new XdsTestClient(replica.xds, codec, { metadata: { authorization: `Bearer ${token}` } });
    try {
      const stream = client.sotw();
      stream.send({ node: envoyNode(workload.id), type_url: TypeUrl.Cluster, resource_names: [] });
      try {
        await stream.nextOfType(TypeUrl.Cluster, 3_000);
        return 'clusters';
      } catch {
        return stream.isEnded ? `ended ${(await stream.ended(1_000)).code}` : 'held without an answer';
      }
    } finally {
      client.close();
    }
  };
  const eventually = async (check: () => Promise<string>, want: string): Promise<string> => {
    const deadline = Date.now() + 15_000;
    let got = await check();
    while (got !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      got = await check();
    }
    return got;
  };

  it('a token denied on one replica is refused by the other; so are the tokens of a workload deregistered there', async () => {
    const workload = await register(replicas.a.http, 'orders');
    await whenRegistered(() => call(replicas.b.http, 'GET', '/v1/agent/bundle', { token: workload.token }));
    expect(await openOn(replicas.b, workload)).toBe('clusters');
    expect((await call(replicas.a.http, 'POST', '/v1/tokens/deny', { body: { tokenId: decodeJwt(workload.token).jti } })).status).toBe(200);
    const denied = await eventually(() => openOn(replicas.b, workload), 'ended 16');
    console.log(`token denied on A, opened on B: ${denied}`);
    expect(denied).toBe('ended 16');

    const other = await register(replicas.a.http, 'payments');
    const bystander = await register(replicas.a.http, 'ledger');
    await whenRegistered(() => call(replicas.b.http, 'GET', '/v1/agent/bundle', { token: other.token }));
    await whenRegistered(() => call(replicas.b.http, 'GET', '/v1/agent/bundle', { token: bystander.token }));
    expect(await openOn(replicas.b, other)).toBe('clusters');
    // Streams held open on B: the deregistered workload's is ended, another workload's is not.
    const held = [other, bystander].map((w) => {
      const client = new XdsTestClient(replicas.b.xds, codec, { metadata: { authorization: `Bearer ${w.token}` } });
      const stream = client.sotw();
      stream.send({ node: envoyNode(w.id), type_url: TypeUrl.Cluster, resource_names: [] });
      return { client, stream };
    });
    for (const { stream } of held) await stream.nextOfType(TypeUrl.Cluster, 5_000);
    expect((await call(replicas.a.http, 'DELETE', `/v1/workloads/${other.id}`)).status).toBe(204);
    try {
      expect((await held[0]?.stream.ended(15_000))?.code).toBe(7);
      expect(held[1]?.stream.isEnded).toBe(false);
    } finally {
      for (const { client } of held) client.close();
    }
    const gone = await eventually(() => openOn(replicas.b, other), 'ended 16');
    console.log(`workload deregistered on A, its token on B: ${gone}`);
    expect(gone).toBe('ended 16');
  }, 60_000);
});
