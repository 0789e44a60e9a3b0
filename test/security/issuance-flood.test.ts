import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsTestClient } from '../support/ads-client.js';
import { call, codec, crlOverSds, crlSerials, envoyNode, opensslCsr, register, startIn, tempDir, whenRegistered, type Registered, type Running } from './support.js';

const FLOOD_MS = 10_000;
const LOOPS = 4;
/** The defaults: a burst of 5, then one every 20 s (3 a minute). */
const BURST = 5;
const REFILL_MS = 20_000;

/**
 * Issue #9, item 8: issuance was unbounded per workload (4 loops issued 6,697 certificates in
 * 10 s, and the revocation that followed pushed a 341 KB CRL to every proxy). It is now a token
 * bucket per workload on every path a caller can trigger: the agent's CSR route and SDS.
 */
describe('certificate issuance is rate-limited per workload', () => {
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  beforeAll(async () => {
    dir = await tempDir();
    accord = await startIn(dir.dir);
  });
  afterAll(async () => {
    await accord.close();
    await dir.remove();
  });

  it(`4 loops on POST /v1/agent/certificate for ${FLOOD_MS / 1000} s: a burst, then 429; the CRL after revocation stays small`, async () => {
    const flooder = await register(accord.http, 'orders');
    const csr = await opensslCsr(dir.dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'flood');
    expect((await whenRegistered(() => call(accord.http, 'POST', '/v1/agent/certificate', { body: { csr }, token: flooder.token }))).status).toBe(200);
    const serials = new Set<string>();
    const statuses = new Map<number, number>();
    let sample: { status: number; text: string; retryAfter: string | null } | undefined;
    const deadline = Date.now() + FLOOD_MS;
    const loop = async (): Promise<void> => {
      while (Date.now() < deadline) {
        const answer = await call(accord.http, 'POST', '/v1/agent/certificate', { body: { csr }, token: flooder.token });
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        if (answer.status === 200) serials.add((answer.body as { serial: string }).serial);
        else sample ??= { status: answer.status, text: answer.text, retryAfter: answer.headers.get('retry-after') };
      }
    };
    await Promise.all(Array.from({ length: LOOPS }, loop));
    console.log(`flood: ${serials.size + 1} certificates issued in ${FLOOD_MS / 1000} s; answers by status ${JSON.stringify(Object.fromEntries(statuses))}`);
    console.log(`flood: first refusal ${JSON.stringify(sample)}`);
    expect.soft(serials.size + 1).toBeLessThanOrEqual(BURST + Math.ceil(FLOOD_MS / REFILL_MS) + 1);
    expect.soft(sample?.status).toBe(429);
    const error = (JSON.parse(sample?.text ?? '{}') as { error?: { code: string; message: string } }).error;
    expect.soft(error?.code).toBe('RESOURCE_EXHAUSTED');
    expect.soft(error?.message).toMatch(/too many certificates/);
    expect.soft(Number(sample?.retryAfter)).toBeGreaterThan(0);

    // Another workload is not affected by this one's flood.
    const neighbour = await register(accord.http, 'payments');
    expect((await whenRegistered(() => call(accord.http, 'POST', '/v1/agent/certificate', { body: { csr }, token: neighbour.token }))).status).toBe(200);

    const revoked = await call(accord.http, 'POST', '/v1/ca/revoke', { body: { workload: flooder.id } });
    expect(revoked.status).toBe(200);
    const crl = (await crlOverSds(accord.xds, neighbour)) ?? '';
    const listed = await crlSerials(dir.dir, crl);
    console.log(`flood: after revoking the workload the CRL lists ${listed.length} serials, ${crl.length} bytes of PEM`);
    expect(listed.length).toBeLessThanOrEqual(BURST + Math.ceil(FLOOD_MS / REFILL_MS) + 1);
    expect(crl.length).toBeLessThan(4096);
  }, 60_000);

  it('reconnect loops on SDS get a burst of certificates, then wait for the bucket', async () => {
    const flooder: Registered = await register(accord.http, 'inventory');
    await whenRegistered(() => call(accord.http, 'GET', `/v1/workloads/${flooder.id}/bootstrap`));
    const serials = new Set<string>();
    let attempts = 0;
    const deadline = Date.now() + 6_000;
    const loop = async (): Promise<void> => {
      while (Date.now() < deadline) {
        attempts += 1;
        const client = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${flooder.token}` } });
        try {
          const stream = client.sotw();
          stream.send({ node: envoyNode(flooder.id), type_url: TypeUrl.Secret, resource_names: ['default'] });
          const response = await stream.nextOfType(TypeUrl.Secret, 1_500).catch(() => undefined);
          for (const any of response?.resources ?? []) {
            const secret = codec.decodeAny(any);
            const chain = (secret.tls_certificate as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string;
            serials.add(chain.slice(0, 200));
          }
        } finally {
          client.close();
        }
      }
    };
    await Promise.all([loop(), loop()]);
    console.log(`SDS reconnect flood: ${attempts} streams asked for "default", ${serials.size} distinct certificates issued`);
    expect(attempts).toBeGreaterThan(BURST + 2);
    expect(serials.size).toBeGreaterThan(0);
    expect(serials.size).toBeLessThanOrEqual(BURST + 1);
  }, 60_000);

  it('a stream refused its leaf by the rate limit still gets ROOTCA (the leaf is not waited for forever)', async () => {
    const workload: Registered = await register(accord.http, 'ledger');
    const connect = (): XdsTestClient => new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${workload.token}` } });
    // Config is generated only once the registration is in the mesh state: from then on a stream's leaf is issued at once.
    const probe = connect();
    try {
      const stream = probe.sotw();
      stream.send({ node: envoyNode(workload.id), type_url: TypeUrl.Cluster, resource_names: [] });
      await stream.nextOfType(TypeUrl.Cluster, 10_000);
    } finally {
      probe.close();
    }
    const leaves = new Set<string>();
    let refused = 0;
    for (let attempt = 0; attempt < 40 && refused < 2; attempt++) {
      const client = connect();
      try {
        const stream = client.sotw();
        stream.send({ node: envoyNode(workload.id), type_url: TypeUrl.Secret, resource_names: ['default', 'ROOTCA'] });
        const response = await stream.nextOfType(TypeUrl.Secret, 10_000);
        const secrets = new Map(response.resources.map((any) => { const secret = codec.decodeAny(any); return [String(secret.name), secret] as const; }));
        expect(secrets.has('ROOTCA')).toBe(true);
        const leaf = secrets.get('default') as { tls_certificate: { certificate_chain: { inline_string: string } } } | undefined;
        if (leaf) leaves.add(leaf.tls_certificate.certificate_chain.inline_string.slice(0, 200));
        else refused += 1;
      } finally {
        client.close();
      }
    }
    console.log(`SDS reconnects: ${leaves.size} distinct leaves, then ${refused} streams refused a leaf got ROOTCA alone`);
    expect(leaves.size).toBeGreaterThan(0);
    expect(leaves.size).toBeLessThanOrEqual(BURST);
    expect(refused).toBe(2);
  }, 60_000);
});
