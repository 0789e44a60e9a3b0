import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsTestClient, type SotwStream } from '../support/ads-client.js';
import { call, codec, envoyNode, register, startIn, tempDir, whenRegistered, type Registered, type Running } from './support.js';

const DAY = 24 * 3_600_000;

/**
 * Issue #9, item 9: workload tokens lived 365 days, could not be renewed or denied, and a revoked
 * or deregistered workload still received listeners and clusters.
 */
describe('workload tokens: lifetime, renewal, deny-list, and streams of revoked or deregistered workloads', () => {
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  const clients: XdsTestClient[] = [];
  const cds = (workload: Registered, token = workload.token): SotwStream => {
    const client = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${token}` } });
    clients.push(client);
    const stream = client.sotw();
    stream.send({ node: envoyNode(workload.id), type_url: TypeUrl.Cluster, resource_names: [] });
    return stream;
  };
  /** The stream's first CDS answer, or how it ended. */
  const firstAnswer = async (stream: SotwStream): Promise<string> => {
    try {
      await stream.nextOfType(TypeUrl.Cluster, 10_000);
      return 'clusters';
    } catch {
      const end = await stream.ended(1_000);
      return `ended ${end.code}: ${end.details}`;
    }
  };
  /** Waits until this replica's registry mirror knows the workload (the agent routes read it). */
  const known = (workload: Registered) => whenRegistered(() => call(accord.http, 'GET', '/v1/agent/bundle', { token: workload.token }));

  beforeAll(async () => {
    dir = await tempDir();
    accord = await startIn(dir.dir);
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await accord.close();
    await dir.remove();
  });

  it('tokens live 30 days by default and carry a token id', async () => {
    const workload = await register(accord.http, 'orders');
    const claims = decodeJwt(workload.token);
    const lifetime = ((claims.exp ?? 0) - (claims.iat ?? 0)) * 1000;
    console.log(`token lifetime: ${lifetime / DAY} days, jti ${String(claims.jti)}`);
    expect(lifetime).toBe(30 * DAY);
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{16,}$/);
  });

  it("a revoked workload's streams are refused at open, and its open config streams stop receiving", async () => {
    const withUpstream = async (service: string): Promise<Registered> =>
      (await call(accord.http, 'POST', '/v1/workloads', { body: { service, address: '127.0.0.1', port: 9000, upstreams: [{ service: 'inventory', localPort: 9100 }] } }))
        .body as Registered;
    await register(accord.http, 'inventory');
    const victim = await withUpstream('orders');
    const control = await withUpstream('payments');
    await known(victim);
    const victimBefore = cds(victim);
    const controlStream = cds(control);
    expect(await firstAnswer(victimBefore)).toBe('clusters');
    expect(await firstAnswer(controlStream)).toBe('clusters');

    expect((await call(accord.http, 'POST', '/v1/ca/revoke', { body: { workload: victim.id } })).status).toBe(200);
    const after = await firstAnswer(cds(victim));
    console.log(`revoked workload opens a CDS stream: ${after}`);
    expect(after).toMatch(/^ended (7|16): .*revoked/);

    // A config change reaches the control proxy but not the revoked one (or its stream has ended).
    const policy = `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: inventory }
spec: { target: inventory, connectTimeout: 333ms }
`;
    expect((await call(accord.http, 'PUT', '/v1/policies', { yaml: policy })).status).toBe(200);
    await controlStream.nextOfType(TypeUrl.Cluster, 10_000);
    const victimGot = await Promise.race([
      victimBefore.nextOfType(TypeUrl.Cluster, 3_000).then(() => 'an update', () => 'nothing'),
      victimBefore.ended(3_000).then((end) => `stream ended ${end.code}`, () => 'nothing'),
    ]);
    console.log(`open CDS stream of the revoked workload after a config change: ${victimGot}`);
    expect(victimGot).not.toBe('an update');
  });

  it("a deregistered workload's token is refused on xDS and on the agent routes", async () => {
    const gone = await register(accord.http, 'orders');
    await known(gone);
    expect((await call(accord.http, 'DELETE', `/v1/workloads/${gone.id}`)).status).toBe(204);
    const answer = await firstAnswer(cds(gone));
    console.log(`deregistered workload opens a CDS stream: ${answer}`);
    expect(answer).toMatch(/^ended (7|16): /);
    const bundle = await call(accord.http, 'GET', '/v1/agent/bundle', { token: gone.token });
    console.log(`deregistered workload asks for its bundle: HTTP ${bundle.status}`);
    expect([401, 403]).toContain(bundle.status);
  });

  it('a renewed token works; the old one keeps working until it expires, unless its id is denied', async () => {
    const workload = await register(accord.http, 'orders');
    await known(workload);
    const renewed = await call(accord.http, 'POST', '/v1/agent/token', { token: workload.token });
    console.log(`renew: HTTP ${renewed.status} ${renewed.text.slice(0, 120)}`);
    expect(renewed.status).toBe(200);
    const fresh = (renewed.body as { token: string; tokenId: string; expiresAt: string });
    expect(decodeJwt(fresh.token).jti).toBe(fresh.tokenId);
    expect(fresh.tokenId).not.toBe(decodeJwt(workload.token).jti);
    expect(await firstAnswer(cds(workload, fresh.token))).toBe('clusters');
    expect(await firstAnswer(cds(workload, workload.token))).toBe('clusters');

    const denied = await call(accord.http, 'POST', '/v1/tokens/deny', { body: { tokenId: decodeJwt(workload.token).jti } });
    expect(denied.status, denied.text).toBe(200);
    expect(await firstAnswer(cds(workload, workload.token))).toMatch(/^ended 16: .*denied/);
    expect((await call(accord.http, 'GET', '/v1/agent/bundle', { token: workload.token })).status).toBe(401);
    expect(await firstAnswer(cds(workload, fresh.token))).toBe('clusters');
  });
});
