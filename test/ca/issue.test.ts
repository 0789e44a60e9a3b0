import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuanceError } from '../../src/ca/errors.js';
import { newCa, openssl, spiffe, tempDir } from './helpers.js';
import type { CertificateAuthority } from '../../src/ca/authority.js';
import type { CaMaterial } from '../../src/ca/material.js';
import { splitCertificates } from '../../src/ca/der.js';

describe('leaf issuance from the DER template', () => {
  const now = Date.now();
  let ca: CertificateAuthority;
  let material: CaMaterial;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    ({ ca, material } = await newCa(now));
    tmp = await tempDir();
  });
  afterAll(() => tmp.cleanup());

  it('openssl verify accepts the chain against the bundle', async () => {
    const leaf = ca.issue({ spiffeId: spiffe('default', 'orders'), now });
    const [leafPem, ...intermediates] = splitCertificates(leaf.certChainPem);
    expect(intermediates).toHaveLength(1);
    expect(leaf.certChainPem).not.toContain(material.root.certPem.trim());
    const bundle = await tmp.file('bundle.pem', ca.trustBundlePem());
    const untrusted = await tmp.file('untrusted.pem', intermediates.join(''));
    const leafFile = await tmp.file('leaf.pem', leafPem);
    const result = await openssl(['verify', '-CAfile', bundle, '-untrusted', untrusted, '-purpose', 'sslclient', leafFile]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain(': OK');
    const server = await openssl(['verify', '-CAfile', bundle, '-untrusted', untrusted, '-purpose', 'sslserver', leafFile]);
    expect(server.stdout).toContain(': OK');
  });

  it('openssl x509 -text shows the SPIFFE SAN, both EKUs, critical key usage and backdated validity', async () => {
    const id = spiffe('payments', 'payments-sa');
    const leaf = ca.issue({ spiffeId: id, now, ttlMs: 3600_000 });
    const leafFile = await tmp.file('leaf2.pem', splitCertificates(leaf.certChainPem)[0]);
    const { stdout } = await openssl(['x509', '-noout', '-text', '-in', leafFile]);
    expect(stdout).toContain(`URI:${id}`);
    expect(stdout).toMatch(/X509v3 Subject Alternative Name: critical/);
    expect(stdout).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(stdout).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\s/);
    expect(stdout).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(stdout).toContain('X509v3 Subject Key Identifier');
    expect(stdout).toContain('X509v3 Authority Key Identifier');
    expect(stdout).toContain('Version: 3 (0x2)');
    const parsed = new crypto.X509Certificate(leaf.certChainPem);
    expect(Date.parse(parsed.validFrom)).toBe(Math.floor((now - 60_000) / 1000) * 1000);
    expect(Date.parse(parsed.validTo)).toBe(Math.floor((now + 3600_000) / 1000) * 1000);
    expect(leaf.notBefore).toBe(Date.parse(parsed.validFrom));
    expect(leaf.notAfter).toBe(Date.parse(parsed.validTo));
  });

  it('@peculiar/x509 parses the template output identically and the signature verifies', async () => {
    const leaf = ca.issue({ spiffeId: spiffe('default', 'orders'), now });
    const cert = new x509.X509Certificate(leaf.certChainPem);
    const issuer = new x509.X509Certificate(material.issuer.certPem);
    expect(cert.subject).toBe('');
    expect(cert.issuer).toBe(issuer.subject);
    expect(cert.serialNumber.replace(/^00/, '')).toBe(leaf.serial);
    expect(leaf.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true })).toBe(true);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    expect(san?.critical).toBe(true);
    expect(san?.names.items.map((n) => [n.type, n.value])).toEqual([['url', spiffe('default', 'orders')]]);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.critical).toBe(true);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    expect(aki?.keyId).toBe(issuer.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
    expect(ski?.keyId).toBe(await (await x509.SubjectKeyIdentifierExtension.create(cert.publicKey)).keyId);
    expect(cert.publicKey.algorithm).toMatchObject({ name: 'ECDSA', namedCurve: 'P-256' });
    // The private key matches the certificate.
    expect(new crypto.X509Certificate(leaf.certChainPem).checkPrivateKey(crypto.createPrivateKey(leaf.keyPem))).toBe(true);
    expect(leaf.issuerFingerprint).toBe(new crypto.X509Certificate(material.issuer.certPem).fingerprint256.replace(/:/g, '').toLowerCase());
  });

  it('serials are random and distinct, also across refills of the entropy buffer (256 per fill)', () => {
    const serials = new Set(Array.from({ length: 600 }, () => ca.issue({ spiffeId: spiffe('default', 'a'), now }).serial));
    expect(serials.size).toBe(600);
  });

  it('clamps notAfter to the issuer expiry', () => {
    const issuerNotAfter = Date.parse(new crypto.X509Certificate(material.issuer.certPem).validTo);
    const late = issuerNotAfter - 3600_000;
    const leaf = ca.issue({ spiffeId: spiffe('default', 'a'), now: late, ttlMs: 24 * 3600_000 });
    expect(leaf.notAfter).toBe(issuerNotAfter);
    expect(() => ca.issue({ spiffeId: spiffe('default', 'a'), now: issuerNotAfter + 1 })).toThrow(IssuanceError);
  });

  it('issues RSA-2048 leaves on request', async () => {
    const leaf = ca.issue({ spiffeId: spiffe('default', 'legacy'), now, keyAlgorithm: 'rsa-2048' });
    const cert = new crypto.X509Certificate(leaf.certChainPem);
    expect(cert.publicKey.asymmetricKeyType).toBe('rsa');
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(cert.checkPrivateKey(crypto.createPrivateKey(leaf.keyPem))).toBe(true);
    const bundle = await tmp.file('b3.pem', ca.trustBundlePem());
    const [leafPem, inter] = splitCertificates(leaf.certChainPem);
    const result = await openssl(['verify', '-CAfile', bundle, '-untrusted', await tmp.file('i3.pem', inter), await tmp.file('l3.pem', leafPem)]);
    expect(result.stdout).toContain(': OK');
  });

  it('refuses SPIFFE IDs outside the trust domain or malformed, naming the field', () => {
    for (const bad of ['spiffe://other.test/ns/a/sa/b', 'https://mesh.test/ns/a/sa/b', 'spiffe://mesh.test/', 'spiffe://mesh.test/ns//sa/x', 'spiffe://mesh.test/ns/../sa/x']) {
      try {
        ca.issue({ spiffeId: bad, now });
        expect.unreachable(bad);
      } catch (err) {
        expect(err).toBeInstanceOf(IssuanceError);
        expect((err as IssuanceError).code).toBe('INVALID_SPIFFE_ID');
        expect((err as IssuanceError).message).toMatch(/^spiffeId: /);
      }
    }
  });
});
