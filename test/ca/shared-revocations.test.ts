import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { MemoryCaKv } from '../../src/ca/kv.js';
import { createCaMaterial } from '../../src/ca/material.js';
import { normalizeSerial } from '../../src/ca/revocation.js';
import { SharedRevocations } from '../../src/ca/revocation-store.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TRUST_DOMAIN, spiffe } from './helpers.js';

async function crlSerials(ca: CertificateAuthority, now: number): Promise<string[]> {
  const crl = await ca.crlPem(now);
  return new x509.X509Crl(crl.pem.replace(/X509 CRL/g, 'CRL')).entries.map((e) => normalizeSerial(e.serialNumber)).sort();
}

describe('revocations shared between replicas', () => {
  it('an identity revoked on one replica is refused on the other, and both CRLs list every serial', async () => {
    const now = Date.now();
    const material = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now });
    const a = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger: silentLogger() });
    const b = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger: silentLogger() });
    const kv = new MemoryCaKv();
    const store = new SharedRevocations(kv);
    const id = spiffe('default', 'stolen');
    const fromA = a.issue({ spiffeId: id, now });
    const fromB = b.issue({ spiffeId: id, now });
    const other = b.issue({ spiffeId: spiffe('default', 'other'), now });

    a.revokeIdentity(id, now);
    expect(await store.sync(a.revocations, now)).toBe(false);
    expect(await store.sync(b.revocations, now)).toBe(true);
    expect(() => b.issue({ spiffeId: id, now })).toThrow(/revoked/);
    expect(b.isRevoked(fromB.serial)).toBe(true);
    expect(b.isRevoked(other.serial)).toBe(false);
    // A learns the serial only B had issued.
    expect(await store.sync(a.revocations, now)).toBe(true);
    const expected = [fromA.serial, fromB.serial].sort();
    expect(await crlSerials(a, now)).toEqual(expected);
    expect(await crlSerials(b, now)).toEqual(expected);
    // Nothing new: a further sync changes nothing.
    const version = (await kv.kvGet('accord/ca/revocations'))?.version;
    expect(await store.sync(a.revocations, now)).toBe(false);
    expect((await kv.kvGet('accord/ca/revocations'))?.version).toBe(version);
  });

  it('concurrent syncs from many replicas lose nothing', async () => {
    const now = Date.now();
    const material = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now });
    const replicas = Array.from({ length: 5 }, () => new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger: silentLogger() }));
    const store = new SharedRevocations(new MemoryCaKv());
    const serials = replicas.map((ca, i) => {
      const leaf = ca.issue({ spiffeId: spiffe('default', `w${i}`), now });
      ca.revokeSerial(leaf.serial, now);
      return leaf.serial;
    });
    await Promise.all(replicas.map((ca) => store.sync(ca.revocations, now)));
    await Promise.all(replicas.map((ca) => store.sync(ca.revocations, now)));
    for (const ca of replicas) for (const serial of serials) expect(ca.isRevoked(serial)).toBe(true);
  });
});
