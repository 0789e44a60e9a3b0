import { stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, TOKEN_FILE } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsTestClient } from '../support/ads-client.js';
import { call, codec, envoyNode, register, startIn, tempDir, whenRegistered, type Running } from './support.js';

/**
 * Issue #9, item 9: workload tokens have a lifetime, so the agent renews its token before it
 * expires, keeps the renewal (0600) for its next start, and its xDS proxy uses it upstream.
 */
describe('the agent renews its workload token before it expires', () => {
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  let agent: Agent | undefined;
  beforeAll(async () => {
    dir = await tempDir();
    accord = await startIn(dir.dir, {}, { ACCORD_TOKEN_TTL: '6s' });
  });
  afterAll(async () => {
    await agent?.close();
    await accord.close();
    await dir.remove();
  });

  it('renews past half-life; after the first token expired the proxy still authenticates upstream', async () => {
    const workload = await register(accord.http, 'orders');
    await whenRegistered(() => call(accord.http, 'GET', '/v1/agent/bundle', { token: workload.token }));
    const outDir = path.join(dir.dir, 'agent');
    agent = new Agent({ token: workload.token, servers: [accord.http], xds: [accord.xds], outDir, listen: '127.0.0.1:0', logger: silentLogger(), bundlePollMs: 250 });
    await agent.start();
    const original = decodeJwt(workload.token);

    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && Date.now() < ((original.exp ?? 0) + 1) * 1000) await new Promise((r) => setTimeout(r, 250));
    const renewed = decodeJwt(agent.currentToken);
    console.log(`first token: iat ${original.iat} exp ${original.exp}; agent now holds: iat ${renewed.iat} exp ${renewed.exp}`);
    expect(renewed.jti).not.toBe(original.jti);
    expect(renewed.sub).toBe(workload.id);
    expect(renewed.exp ?? 0).toBeGreaterThan(Date.now() / 1000);
    expect(((await stat(path.join(outDir, TOKEN_FILE))).mode & 0o777).toString(8)).toBe('600');

    // The first token has expired: used directly it is refused ...
    const direct = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${workload.token}` } });
    const refused = direct.sotw();
    refused.send({ node: envoyNode(workload.id), type_url: TypeUrl.Cluster, resource_names: [] });
    expect((await refused.ended(10_000)).code).toBe(16);
    direct.close();
    // ... while a client of the agent's local proxy is served, with the renewed token upstream.
    const local = new XdsTestClient(agent.listenAddress, codec);
    try {
      const stream = local.sotw();
      stream.send({ node: envoyNode(workload.id), type_url: TypeUrl.Cluster, resource_names: [] });
      await stream.nextOfType(TypeUrl.Cluster, 10_000);
    } finally {
      local.close();
    }
  }, 40_000);
});
