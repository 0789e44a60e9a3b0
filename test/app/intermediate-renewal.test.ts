import { writeFile, readFile } from 'node:fs/promises';
import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCaMaterial, withNextIntermediate } from '../../src/ca/index.js';
import { serializeCaMaterial, parseCaMaterial } from '../../src/ca/material.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

describe('intermediate CA renewal', () => {
  let accord: TestAccord;
  let oldIntermediate: X509Certificate;

  beforeAll(async () => {
    accord = await startTestAccord({}, {}, async (dataDir) => {
      // An intermediate with 30 hours left cannot outlive a 24 h leaf plus margin: it is due.
      const fresh = await createCaMaterial({ trustDomain: 'mesh.local', now: Date.now() });
      const dueSoon = await withNextIntermediate(fresh, { trustDomain: 'mesh.local', now: Date.now(), ttlMs: 30 * 3600_000 });
      oldIntermediate = new X509Certificate(dueSoon.issuer.certPem);
      await writeFile(path.join(dataDir, 'ca.json'), serializeCaMaterial(dueSoon), { mode: 0o600 });
    });
  });
  afterAll(async () => {
    await accord.close();
  });

  it('renews an intermediate that is due, under the same root, and persists it', async () => {
    const deadline = Date.now() + 10_000;
    let stored = parseCaMaterial(await readFile(path.join(accord.dataDir, 'ca.json'), 'utf8'), 'ca.json');
    while (stored.issuer.certPem === oldIntermediate.toString() && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      stored = parseCaMaterial(await readFile(path.join(accord.dataDir, 'ca.json'), 'utf8'), 'ca.json');
    }
    const renewed = new X509Certificate(stored.issuer.certPem);
    expect(renewed.serialNumber).not.toBe(oldIntermediate.serialNumber);
    const root = new X509Certificate((await api(accord, 'GET', '/v1/ca/bundle')).text);
    expect(renewed.verify(root.publicKey)).toBe(true);
    expect(Date.parse(renewed.validTo)).toBeGreaterThan(Date.parse(oldIntermediate.validTo));
    const status = (await api(accord, 'GET', '/v1/ca')).body as { certs: { cert: string; fingerprint: string }[] };
    expect(status.certs.find((c) => c.cert === 'intermediate')?.fingerprint.toLowerCase().replace(/:/g, '')).toBe(renewed.fingerprint256.toLowerCase().replace(/:/g, ''));

    // Leaves of the old intermediate are still valid, so proxies get both intermediates' CRLs:
    // a verifier with a CRL configured refuses a leaf whose issuer has none.
    const registered = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'web', address: '10.0.0.5', port: 80 } })).body as { id: string; token: string };
    const client = new XdsTestClient(accord.xds, new XdsCodec(loadEnvoyProtos()), { metadata: { authorization: `Bearer ${registered.token}` } });
    try {
      const stream = client.sotw();
      stream.send({ node: { id: registered.id, user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Secret, resource_names: ['ROOTCA'] });
      const response = await stream.nextOfType(TypeUrl.Secret, 5000);
      const secret = client.codec.decodeAny(response.resources[0] as { type_url: string; value: Uint8Array }) as { validation_context: { crl: { inline_string: string } } };
      const crls = secret.validation_context.crl.inline_string.match(/-----BEGIN X509 CRL-----/g) ?? [];
      expect(crls).toHaveLength(2);
    } finally {
      client.close();
    }
  });
});
