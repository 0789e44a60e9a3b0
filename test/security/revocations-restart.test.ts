import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsTestClient } from '../support/ads-client.js';
import { REDIS_URL, deletePrefix } from '../registry/redis-helpers.js';
import { whenRegistered, call, codec, envoyNode, crlOverSds, crlSerials, meshYaml, opensslCsr, register, startIn, tempDir, type Running } from './support.js';

/**
 * Issue #9, item 6: with the memory store and the data-dir CA, revocations were kept in memory
 * only, so a restart made revoked certificates valid again. They now live in the data dir beside
 * ca.json (0600) and survive the restart.
 */
const prefix = `accord-restart-${randomBytes(4).toString('hex')}`;
const MODES: { name: string; flags: Record<string, string>; env: Record<string, string>; files: string[] }[] = [
  { name: 'memory store, data-dir CA', flags: {}, env: {}, files: ['ca.json', 'ca-state.json'] },
  { name: 'Redis store, shared CA', flags: { redis: REDIS_URL, redisPrefix: prefix }, env: { ACCORD_CA_KEK: randomBytes(32).toString('hex') }, files: [] },
];

describe.each(MODES)('revocations survive a restart ($name)', ({ flags, env, files }) => {
  const running: Running[] = [];
  let dir: { dir: string; remove(): Promise<void> } | undefined;
  afterAll(async () => {
    for (const accord of running) await accord.close().catch(() => undefined);
    await dir?.remove();
    await deletePrefix(`{${prefix}}:`);
  });

  it('restart → the CRL still lists the revoked serials and the revoked workload is still refused', async () => {
    dir = await tempDir();
    const first = await startIn(dir.dir, flags, env);
    running.push(first);
    expect((await call(first.http, 'PUT', '/v1/policies', { yaml: meshYaml() })).status).toBe(200);
    const victim = await register(first.http, 'orders');
    const csr = await opensslCsr(dir.dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'victim');
    const issued = await whenRegistered(() => call(first.http, 'POST', '/v1/agent/certificate', { body: { csr }, token: victim.token }));
    expect(issued.status, issued.text).toBe(200);
    const serial = (issued.body as { serial: string }).serial;
    const revoked = await call(first.http, 'POST', '/v1/ca/revoke', { body: { workload: victim.id } });
    expect(revoked.status, revoked.text).toBe(200);
    expect((revoked.body as { revoked: string[] }).revoked).toContain(serial);
    const deniedOne = await register(first.http, 'inventory');
    expect((await call(first.http, 'POST', '/v1/tokens/deny', { body: { tokenId: decodeJwt(deniedOne.token).jti } })).status).toBe(200);
    const bystander = await register(first.http, 'payments');
    expect(await crlSerials(dir.dir, (await crlOverSds(first.xds, bystander)) ?? '')).toContain(serial);
    await first.close();

    const second = await startIn(dir.dir, flags, env);
    running.push(second);
    const status = (await call(second.http, 'GET', '/v1/ca')).body as { revokedWorkloads: string[]; revokedCertificates: number };
    console.log(`after restart: revokedWorkloads=${JSON.stringify(status.revokedWorkloads)} revokedCertificates=${status.revokedCertificates}`);
    const observer = await register(second.http, 'payments');
    const listed = await crlSerials(dir.dir, (await crlOverSds(second.xds, observer)) ?? '');
    console.log(`after restart: CRL lists ${JSON.stringify(listed)} (revoked serial ${serial})`);
    expect(listed).toContain(serial);
    expect(status.revokedWorkloads).toContain(victim.id);

    // The revoked workload's token is refused (and never gets a new certificate).
    const again = await call(second.http, 'POST', '/v1/agent/certificate', { body: { csr }, token: victim.token });
    console.log(`after restart: revoked workload asks for a certificate: HTTP ${again.status} ${again.text.slice(0, 160)}`);
    expect(again.status).toBe(403);

    // The denied token stays denied (a token of an unknown workload is otherwise held, not refused).
    const client = new XdsTestClient(second.xds, codec, { metadata: { authorization: `Bearer ${deniedOne.token}` } });
    const stream = client.sotw();
    stream.send({ node: envoyNode(deniedOne.id), type_url: TypeUrl.Cluster, resource_names: [] });
    const end = await stream.ended(10_000);
    console.log(`after restart: denied token opens a stream: ${end.code} ${end.details}`);
    expect(end.code).toBe(16);
    client.close();

    // Kept like ca.json: owner-only.
    for (const file of files.map((name) => path.join(dir?.dir ?? '', name))) expect(((await stat(file)).mode & 0o777).toString(8), file).toBe('600');
  });
});
