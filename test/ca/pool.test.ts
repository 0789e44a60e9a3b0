import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority, IssuedLeaf } from '../../src/ca/authority.js';
import { pemDecodeAll, readDerChildren, readDerElement, splitCertificates } from '../../src/ca/der.js';
import { IssuanceError } from '../../src/ca/errors.js';
import { publicKeyBitsOf } from '../../src/ca/keys.js';
import { buildLeafTbs, createLeafTemplate } from '../../src/ca/leaf-template.js';
import type { CaMaterial } from '../../src/ca/material.js';
import { IssuancePool } from '../../src/ca/issuance-pool.js';
import { newCa, openssl, spiffe, tempDir } from './helpers.js';

/** Each leaf is for its request's SPIFFE ID, signed by the issuer, carries its own key and serial; no serial repeats. */
function expectLeaves(leaves: readonly IssuedLeaf[], requests: readonly { spiffeId: string }[], issuerPem: string): void {
  expect(leaves).toHaveLength(requests.length);
  const issuer = new crypto.X509Certificate(issuerPem);
  leaves.forEach((leaf, i) => {
    const cert = new crypto.X509Certificate(leaf.certChainPem);
    expect(cert.subjectAltName).toBe(`URI:${requests[i]?.spiffeId}`);
    expect(cert.verify(issuer.publicKey)).toBe(true);
    expect(cert.checkPrivateKey(crypto.createPrivateKey(leaf.keyPem))).toBe(true);
    expect(cert.serialNumber.toLowerCase().replace(/^00/, '')).toBe(leaf.serial);
  });
  expect(new Set(leaves.map((leaf) => leaf.serial)).size).toBe(requests.length);
}

describe('worker-thread issuance pool', () => {
  const now = Date.now();
  let ca: CertificateAuthority;
  let material: CaMaterial;
  let pool: IssuancePool;

  beforeAll(async () => {
    ({ ca, material } = await newCa(now));
    pool = new IssuancePool({ size: 2, batchSize: 16 });
  });
  afterAll(() => pool.close());

  it('issues in order, each leaf verifies and its key matches', async () => {
    const requests = Array.from({ length: 100 }, (_, i) => ({ spiffeId: spiffe('bulk', `sa-${i}`), now }));
    const leaves = await pool.issueMany(ca, requests);
    expect(leaves).toHaveLength(100);
    expectLeaves(leaves, requests, material.issuer.certPem);
  });

  it('builds byte-for-byte the same TBSCertificate as the in-thread template', async () => {
    const template = createLeafTemplate(material.issuer.certPem, material.issuer.keyPem);
    for (const keyAlgorithm of ['ec-p256', 'rsa-2048'] as const) {
      const [leaf] = await pool.issueMany(ca, [{ spiffeId: spiffe('default', 'same'), now, keyAlgorithm }]);
      const [der] = pemDecodeAll('CERTIFICATE', leaf.certChainPem);
      const [tbsElement] = readDerChildren(der, readDerElement(der, 0));
      const tbs = der.subarray(tbsElement.start, tbsElement.end);
      const spkiDer = new crypto.X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
      const rebuilt = buildLeafTbs(template, {
        serial: Buffer.from(leaf.serial, 'hex'),
        notBeforeMs: leaf.notBefore,
        notAfterMs: leaf.notAfter,
        spiffeId: leaf.spiffeId,
        spkiDer,
        publicKeyBits: publicKeyBitsOf(spkiDer),
      });
      expect(rebuilt.equals(tbs)).toBe(true);
    }
  });

  it('openssl accepts pool output', async () => {
    const tmp = await tempDir();
    try {
      const [leaf] = await pool.issueMany(ca, [{ spiffeId: spiffe('default', 'ossl'), now }]);
      const [leafPem, inter] = splitCertificates(leaf.certChainPem);
      const result = await openssl(['verify', '-CAfile', await tmp.file('ca.pem', ca.trustBundlePem()), '-untrusted', await tmp.file('i.pem', inter), await tmp.file('l.pem', leafPem)]);
      expect(result.stdout).toContain(': OK');
    } finally {
      await tmp.cleanup();
    }
  });

  it('refuses the whole batch up front for a revoked identity, and follows an issuer switch', async () => {
    const { ca: other } = await newCa(now);
    other.revokeIdentity(spiffe('default', 'gone'), now);
    await expect(pool.issueMany(other, [{ spiffeId: spiffe('default', 'ok'), now }, { spiffeId: spiffe('default', 'gone'), now }])).rejects.toBeInstanceOf(IssuanceError);
    const [leaf] = await pool.issueMany(other, [{ spiffeId: spiffe('default', 'ok'), now }]);
    expect(leaf.issuerFingerprint).toBe(other.issuerFingerprint);
    expect(new crypto.X509Certificate(leaf.certChainPem).verify(new crypto.X509Certificate(other.currentMaterial.issuer.certPem).publicKey)).toBe(true);
  });

  it('issues single leaves batched within one turn of the event loop, each recorded for revocation', async () => {
    const requests = Array.from({ length: 40 }, (_, i) => ({ spiffeId: spiffe('single', `sa-${i}`), now }));
    const leaves = await Promise.all(requests.map((request) => pool.issue(ca, request)));
    expectLeaves(leaves, requests, material.issuer.certPem);
    // Recorded on the CA's side: revoking the identity revokes the serial the worker signed.
    const revoked = ca.revokeIdentity(requests[0].spiffeId, now);
    expect(revoked.map((entry) => entry.serial.toLowerCase())).toContain(leaves[0].serial);
  });

  it('a single request is refused before any work: revoked identity, DNS names', async () => {
    const { ca: other } = await newCa(now);
    other.revokeIdentity(spiffe('default', 'gone'), now);
    await expect(pool.issue(other, { spiffeId: spiffe('default', 'gone'), now })).rejects.toBeInstanceOf(IssuanceError);
    await expect(pool.issue(other, { spiffeId: spiffe('default', 'named'), dnsNames: ['a.example'], now })).rejects.toThrow(/DNS\/IP SANs/);
  });

  it('a worker that dies fails its jobs and is replaced on the next request', async () => {
    const own = new IssuancePool({ size: 1, batchSize: 8 });
    try {
      await own.issue(ca, { spiffeId: spiffe('crash', 'warm'), now });
      // 50 messages are posted at once; the worker is killed (as a fatal error in the thread would) before it can answer them all.
      const inFlight = own.issueMany(ca, Array.from({ length: 400 }, (_, i) => ({ spiffeId: spiffe('crash', `sa-${i}`), now })));
      void (own as unknown as { workers: { worker: { terminate(): Promise<number> } }[] }).workers[0].worker.terminate();
      await expect(inFlight).rejects.toThrow(/issuance worker exited/);
      const after = await own.issue(ca, { spiffeId: spiffe('crash', 'after'), now });
      expect(new crypto.X509Certificate(after.certChainPem).subjectAltName).toBe(`URI:${spiffe('crash', 'after')}`);
    } finally {
      await own.close();
    }
  });

  it('workers start on demand and stop when idle; the next request starts one again', async () => {
    const own = new IssuancePool({ size: 2, idleMs: 50 });
    try {
      expect(own.running).toBe(0);
      await own.issue(ca, { spiffeId: spiffe('idle', 'first'), now });
      expect(own.running).toBe(1);
      const deadline = Date.now() + 10_000;
      while (own.running > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(own.running).toBe(0);
      const again = await own.issue(ca, { spiffeId: spiffe('idle', 'again'), now });
      expect(new crypto.X509Certificate(again.certChainPem).subjectAltName).toBe(`URI:${spiffe('idle', 'again')}`);
    } finally {
      await own.close();
    }
  });
});
