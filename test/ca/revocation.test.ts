import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../src/ca/authority.js';
import { crlNeedsRefresh } from '../../src/ca/crl.js';
import { pemDecodeAll, readDerChildren, readDerElement, splitCertificates } from '../../src/ca/der.js';
import { IssuanceError } from '../../src/ca/errors.js';
import { RevocationList, normalizeSerial } from '../../src/ca/revocation.js';
import { newCa, openssl, spiffe, tempDir } from './helpers.js';

const HOUR = 3600_000;

describe('revocation and CRLs', () => {
  const now = Date.now();
  let ca: CertificateAuthority;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    ({ ca } = await newCa(now, { crlTtlMs: 4 * HOUR }));
    tmp = await tempDir();
  });
  afterAll(() => tmp.cleanup());

  it('revoking an identity revokes its live certificates and refuses it new ones', async () => {
    const id = spiffe('default', 'compromised');
    const a = ca.issue({ spiffeId: id, now });
    const b = ca.issue({ spiffeId: id, now });
    const bystander = ca.issue({ spiffeId: spiffe('default', 'fine'), now });
    const revoked = ca.revokeIdentity(id, now);
    expect(revoked.map((r) => r.serial).sort()).toEqual([a.serial, b.serial].sort());
    expect(ca.isRevoked(a.serial)).toBe(true);
    expect(ca.isRevoked(bystander.serial)).toBe(false);
    const err = (() => {
      try {
        ca.issue({ spiffeId: id, now });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(IssuanceError);
    expect(err).toMatchObject({ code: 'REVOKED', field: 'spiffeId' });
    await expect(ca.signCsr({ csrPem: 'x', spiffeId: id, now })).rejects.toMatchObject({ code: 'REVOKED' });

    const crl = await ca.crlPem(now);
    const parsed = new x509.X509Crl(crl.pem.replace(/X509 CRL/g, 'CRL'));
    expect(parsed.entries.map((e) => normalizeSerial(e.serialNumber)).sort()).toEqual([a.serial, b.serial].sort());
    expect(parsed.thisUpdate.getTime()).toBe(crl.thisUpdate);
    expect(parsed.nextUpdate?.getTime()).toBe(crl.nextUpdate);
    expect(crl.nextUpdate - crl.thisUpdate).toBeGreaterThanOrEqual(4 * HOUR);
  });

  it('openssl verify -crl_check rejects a revoked leaf and accepts the others', async () => {
    const victim = ca.issue({ spiffeId: spiffe('default', 'victim'), now });
    const ok = ca.issue({ spiffeId: spiffe('default', 'ok'), now });
    ca.revokeSerial(victim.serial.toUpperCase(), now);
    const crl = await ca.crlPem(now);
    const rootCrl = await ca.rootCrlPem(now);
    const crlText = await openssl(['crl', '-noout', '-text'], crl.pem);
    expect(crlText.stdout).toContain('Version 2');
    expect(crlText.stdout.toLowerCase()).toContain(victim.serial.slice(0, 8));
    expect(crlText.stdout).toMatch(/Next Update/);
    const bundle = await tmp.file('bundle.pem', ca.trustBundlePem());
    const crls = await tmp.file('crls.pem', crl.pem + (rootCrl?.pem ?? ''));
    for (const [leaf, expectOk] of [[victim, false], [ok, true]] as const) {
      const [leafPem, inter] = splitCertificates(leaf.certChainPem);
      const result = await openssl(['verify', '-crl_check_all', '-CAfile', bundle, '-CRLfile', crls, '-untrusted', await tmp.file('i.pem', inter), await tmp.file(`l-${leaf.serial}.pem`, leafPem)]);
      if (expectOk) expect(result.stdout).toContain(': OK');
      else expect(result.stdout + result.stderr).toMatch(/certificate revoked/);
    }
  });

  // Envoy (BoringSSL) rejected the trust bundle with "Failed to load CRL from <inline>" while the
  // CRL's entries carried an empty crlEntryExtensions SEQUENCE; OpenSSL reads such a CRL.
  it('writes CRL entries as serial and date only, never an empty crlEntryExtensions', async () => {
    ca.revokeSerial(ca.issue({ spiffeId: spiffe('default', 'entry-shape'), now }).serial, now);
    ca.revokeSerial('ab', now);
    const [der] = pemDecodeAll('X509 CRL', (await ca.crlPem(now)).pem);
    const [tbs] = readDerChildren(der, readDerElement(der, 0));
    const revoked = readDerChildren(der, tbs).find((field, i) => i === 5 && field.tag === 0x30);
    expect(revoked, 'revokedCertificates').toBeDefined();
    const entries = readDerChildren(der, revoked!);
    expect(entries.length).toBeGreaterThanOrEqual(2);
    for (const entry of entries) {
      expect(readDerChildren(der, entry).map((child) => child.tag)).toEqual([0x02, 0x17]);
    }
    // A serial with its high bit set stays a positive INTEGER (00 ab), as in the certificate.
    expect(entries.some((entry) => Buffer.from(der.subarray(entry.start, entry.end)).includes(Buffer.from([0x02, 0x02, 0x00, 0xab])))).toBe(true);
  });

  it('re-signs the CRL on revocation and before nextUpdate, not otherwise', async () => {
    const first = await ca.crlPem(now);
    expect(await ca.crlPem(now + HOUR)).toBe(first);
    const refreshed = await ca.crlPem(now + 2.5 * HOUR);
    expect(refreshed).not.toBe(first);
    expect(refreshed.crlNumber).toBeGreaterThan(first.crlNumber);
    expect(refreshed.nextUpdate).toBeGreaterThan(first.nextUpdate);
    ca.revokeSerial(ca.issue({ spiffeId: spiffe('default', 'x'), now }).serial, now + 2.5 * HOUR);
    expect(await ca.crlPem(now + 2.5 * HOUR)).not.toBe(refreshed);
  });

  it('crlNeedsRefresh is a pure function of validity and now', () => {
    const crl = { thisUpdate: 0, nextUpdate: 100 };
    expect(crlNeedsRefresh(crl, 49)).toBe(false);
    expect(crlNeedsRefresh(crl, 50)).toBe(true);
    expect(crlNeedsRefresh(crl, 79, 0.8)).toBe(false);
    expect(crlNeedsRefresh(crl, 101)).toBe(true);
  });

  it('the revocation list serialises, prunes expired entries and normalises serials', () => {
    const list = new RevocationList();
    list.recordIssued('spiffe://mesh.test/ns/a/sa/b', 'ab01', 1000);
    list.revokeSerial('00AB01', 10, 5000);
    list.revokeSerial('ff', 10, 20);
    list.revokeIdentity('spiffe://mesh.test/ns/a/sa/c', 10);
    const restored = RevocationList.fromState(JSON.parse(JSON.stringify(list.toState())));
    expect(restored.isSerialRevoked('ab01')).toBe(true);
    expect(restored.isIdentityRevoked('spiffe://mesh.test/ns/a/sa/c')).toBe(true);
    expect(restored.activeEntries(15).map((e) => e.serial).sort()).toEqual(['ab01', 'ff']);
    expect(restored.activeEntries(500).map((e) => e.serial)).toEqual(['ab01']);
    restored.prune(2000);
    expect(restored.activeEntries(0)).toEqual([]);
    expect(normalizeSerial('0x00:0A:BC')).toBe('0abc');
  });
});

describe('CSR signing for agents', () => {
  const now = Date.now();
  let ca: CertificateAuthority;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    ({ ca } = await newCa(now));
    tmp = await tempDir();
  });
  afterAll(() => tmp.cleanup());

  it('takes the identity from the caller, not from the names in the CSR', async () => {
    const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=admin',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffe('kube-system', 'admin') }])],
    });
    const caller = spiffe('default', 'agent');
    const issued = await ca.signCsr({ csrPem: csr.toString('pem'), spiffeId: caller, now });
    const cert = new crypto.X509Certificate(issued.certChainPem);
    expect(cert.subjectAltName).toBe(`URI:${caller}`);
    expect(cert.subject ?? '').toBe('');
    const csrSpki = Buffer.from(await crypto.webcrypto.subtle.exportKey('spki', keys.publicKey));
    expect(cert.publicKey.export({ type: 'spki', format: 'der' }).equals(csrSpki)).toBe(true);
    expect(issued).not.toHaveProperty('keyPem');
  });

  it('signs an openssl-made CSR (RSA) and the result verifies', async () => {
    const keyFile = `${tmp.dir}/agent.key`;
    const csrFile = `${tmp.dir}/agent.csr`;
    const made = await openssl(['req', '-new', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=whatever']);
    expect(made.code).toBe(0);
    const { readFile } = await import('node:fs/promises');
    const issued = await ca.signCsr({ csrPem: await readFile(csrFile, 'utf8'), spiffeId: spiffe('default', 'agent'), now });
    const [leafPem, inter] = splitCertificates(issued.certChainPem);
    const result = await openssl(['verify', '-CAfile', await tmp.file('ca.pem', ca.trustBundlePem()), '-untrusted', await tmp.file('i.pem', inter), await tmp.file('l.pem', leafPem)]);
    expect(result.stdout).toContain(': OK');
    expect(new crypto.X509Certificate(issued.certChainPem).checkPrivateKey(crypto.createPrivateKey(await readFile(keyFile, 'utf8')))).toBe(true);
  });

  it('refuses a CSR whose signature does not verify, or that is not a CSR', async () => {
    const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=a', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } });
    const der = Buffer.from(csr.rawData);
    // Flip a byte inside the subject CN ("a" -> "b"): the signature no longer covers the content.
    const at = der.indexOf(Buffer.from('0c0161', 'hex')) >= 0 ? der.indexOf(Buffer.from('0c0161', 'hex')) + 2 : der.indexOf(Buffer.from('130161', 'hex')) + 2;
    der[at] = 0x62;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(ca.signCsr({ csrPem: tampered, spiffeId: spiffe('default', 'a'), now })).rejects.toMatchObject({ code: 'INVALID_CSR', field: 'csrPem' });
    await expect(ca.signCsr({ csrPem: 'garbage', spiffeId: spiffe('default', 'a'), now })).rejects.toMatchObject({ code: 'INVALID_CSR' });
  });
});
