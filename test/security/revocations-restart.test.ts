import { stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { whenRegistered, call, crlOverSds, crlSerials, meshYaml, opensslCsr, register, startIn, tempDir, type Running } from './support.js';

/**
 * Issue #9, item 6: with the memory store and the data-dir CA, revocations were kept in memory
 * only, so a restart made revoked certificates valid again. They now live in the data dir beside
 * ca.json (0600) and survive the restart.
 */
describe('revocations survive a restart (memory store, data-dir CA)', () => {
  const running: Running[] = [];
  let dir: { dir: string; remove(): Promise<void> } | undefined;
  afterAll(async () => {
    for (const accord of running) await accord.close().catch(() => undefined);
    await dir?.remove();
  });

  it('restart → the CRL still lists the revoked serials and the revoked workload is still refused', async () => {
    dir = await tempDir();
    const first = await startIn(dir.dir);
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
    const bystander = await register(first.http, 'payments');
    expect(await crlSerials(dir.dir, (await crlOverSds(first.xds, bystander)) ?? '')).toContain(serial);
    await first.close();

    const second = await startIn(dir.dir);
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

    // Kept like ca.json: owner-only.
    const files = ['ca.json', 'ca-state.json'].map((name) => path.join(dir?.dir ?? '', name));
    for (const file of files) expect(((await stat(file)).mode & 0o777).toString(8), file).toBe('600');
  });
});
