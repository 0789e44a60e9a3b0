import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { createIntermediateCa, createRootCa } from '../../src/ca/ca-certs.js';
import { KekError, kekFromEnv, open, parseKek, seal } from '../../src/ca/envelope.js';
import { MemoryCaKv } from '../../src/ca/kv.js';
import {
  CaMaterialError,
  DEFAULT_SHARED_CA_KEY,
  loadOrCreateCaMaterial,
  readSharedCaMaterial,
  replaceSharedCaMaterial,
  withNextIntermediate,
} from '../../src/ca/material.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TRUST_DOMAIN, openssl, spiffe, tempDir } from './helpers.js';
import { splitCertificates } from '../../src/ca/der.js';

const now = Date.now();
const options = { trustDomain: TRUST_DOMAIN, now, logger: silentLogger() };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
async function tmp(): Promise<Awaited<ReturnType<typeof tempDir>>> {
  const t = await tempDir();
  cleanups.push(t.cleanup);
  return t;
}

describe('CA material: embedded default in the data dir', () => {
  it('generates once with mode 0600 and reuses it on restart', async () => {
    const { dir } = await tmp();
    const dataDir = path.join(dir, 'data');
    const first = await loadOrCreateCaMaterial({ kind: 'data-dir', dataDir }, options);
    const stat = await fs.stat(path.join(dataDir, 'ca.json'));
    expect(stat.mode & 0o777).toBe(0o600);
    const second = await loadOrCreateCaMaterial({ kind: 'data-dir', dataDir }, options);
    expect(second).toEqual(first);
    expect(first.root.keyPem).toBeDefined();
    expect(Buffer.from(first.tokenKey, 'base64')).toHaveLength(32);
    const root = new crypto.X509Certificate(first.root.certPem);
    const inter = new crypto.X509Certificate(first.issuer.certPem);
    expect(inter.verify(root.publicKey)).toBe(true);
    expect(Date.parse(root.validTo) - now).toBeGreaterThan(9.9 * 365 * 24 * 3600_000);
    expect(Date.parse(inter.validTo) - now).toBeGreaterThan(364 * 24 * 3600_000);
    const text = (await openssl(['x509', '-noout', '-text'], first.issuer.certPem)).stdout;
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Certificate Sign, CRL Sign/);
  });

  it('two processes starting at once end up with the same material', async () => {
    const { dir } = await tmp();
    const results = await Promise.all(Array.from({ length: 4 }, () => loadOrCreateCaMaterial({ kind: 'data-dir', dataDir: dir }, options)));
    for (const r of results) expect(r).toEqual(results[0]);
  });

  it('tightens a too-open file mode and names the file on corrupt content', async () => {
    const { dir } = await tmp();
    await loadOrCreateCaMaterial({ kind: 'data-dir', dataDir: dir }, options);
    await fs.chmod(path.join(dir, 'ca.json'), 0o644);
    await loadOrCreateCaMaterial({ kind: 'data-dir', dataDir: dir }, options);
    expect((await fs.stat(path.join(dir, 'ca.json'))).mode & 0o777).toBe(0o600);
    await fs.writeFile(path.join(dir, 'ca.json'), JSON.stringify({ version: 1, root: {} }));
    await expect(loadOrCreateCaMaterial({ kind: 'data-dir', dataDir: dir }, options)).rejects.toThrow(/ca\.json: field "root\.certPem"/);
  });
});

describe('CA material: operator PEM files', () => {
  it('root plus intermediate and key (as Vault would hand over): leaves chain to the operator root', async () => {
    const t = await tmp();
    const root = await createRootCa({ trustDomain: TRUST_DOMAIN, now });
    const inter = await createIntermediateCa({ trustDomain: TRUST_DOMAIN, now, parent: root });
    const material = await loadOrCreateCaMaterial(
      {
        kind: 'pem-files',
        rootCertFile: await t.file('root.pem', root.certPem),
        intermediateCertFile: await t.file('inter.pem', inter.certPem + root.certPem),
        intermediateKeyFile: await t.file('inter.key', inter.keyPem),
      },
      options,
    );
    expect(material.root.keyPem).toBeUndefined();
    expect(material.chainPem).toEqual([inter.certPem]);
    const ca = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger: silentLogger() });
    const leaf = ca.issue({ spiffeId: spiffe('default', 'a'), now });
    const [leafPem, chain] = splitCertificates(leaf.certChainPem);
    const result = await openssl(['verify', '-CAfile', await t.file('b.pem', root.certPem), '-untrusted', await t.file('c.pem', chain), await t.file('l.pem', leafPem)]);
    expect(result.stdout).toContain(': OK');
    // Replicas loading the same files derive the same token key.
    const again = await loadOrCreateCaMaterial(
      { kind: 'pem-files', rootCertFile: path.join(t.dir, 'root.pem'), intermediateCertFile: path.join(t.dir, 'inter.pem'), intermediateKeyFile: path.join(t.dir, 'inter.key') },
      options,
    );
    expect(again.tokenKey).toBe(material.tokenKey);
  });

  it('root with its key: an intermediate is generated under it', async () => {
    const t = await tmp();
    const root = await createRootCa({ trustDomain: TRUST_DOMAIN, now });
    const material = await loadOrCreateCaMaterial(
      { kind: 'pem-files', rootCertFile: await t.file('root.pem', root.certPem), rootKeyFile: await t.file('root.key', root.keyPem) },
      options,
    );
    expect(new crypto.X509Certificate(material.issuer.certPem).verify(new crypto.X509Certificate(root.certPem).publicKey)).toBe(true);
  });

  it('refuses mismatched keys, missing keys and chains to another root, naming the field', async () => {
    const t = await tmp();
    const root = await createRootCa({ trustDomain: TRUST_DOMAIN, now });
    const otherRoot = await createRootCa({ trustDomain: TRUST_DOMAIN, now });
    const inter = await createIntermediateCa({ trustDomain: TRUST_DOMAIN, now, parent: otherRoot });
    const rootCertFile = await t.file('root.pem', root.certPem);
    await expect(loadOrCreateCaMaterial({ kind: 'pem-files', rootCertFile }, options)).rejects.toThrow(/^rootKeyFile: required/);
    await expect(
      loadOrCreateCaMaterial({ kind: 'pem-files', rootCertFile, rootKeyFile: await t.file('wrong.key', otherRoot.keyPem) }, options),
    ).rejects.toThrow(/rootKeyFile: key does not match/);
    await expect(
      loadOrCreateCaMaterial(
        { kind: 'pem-files', rootCertFile, intermediateCertFile: await t.file('i.pem', inter.certPem), intermediateKeyFile: await t.file('i.key', inter.keyPem) },
        options,
      ),
    ).rejects.toThrow(/intermediateCertFile: the chain does not lead/);
    await expect(loadOrCreateCaMaterial({ kind: 'pem-files', rootCertFile: path.join(t.dir, 'nope.pem') }, options)).rejects.toBeInstanceOf(CaMaterialError);
  });
});

describe('CA material: shared through the KV, encrypted with the KEK', () => {
  const kek = parseKek(crypto.randomBytes(32).toString('base64'));

  it('replicas racing at start-up all sign with the same intermediate', async () => {
    const kv = new MemoryCaKv();
    const results = await Promise.all(Array.from({ length: 5 }, () => loadOrCreateCaMaterial({ kind: 'shared', kv, kek }, options)));
    for (const r of results) expect(r).toEqual(results[0]);
    const stored = await kv.kvGet(DEFAULT_SHARED_CA_KEY);
    expect(stored?.version).toBe(1);
    // At rest it is an envelope: no PEM, no key material in clear.
    expect(stored?.value).not.toContain('-----BEGIN');
    expect(JSON.parse(stored?.value ?? '{}')).toMatchObject({ v: 1, alg: 'A256GCM', kid: kek.id });
  });

  it('refuses to open with another KEK, or a tampered envelope', async () => {
    const kv = new MemoryCaKv();
    await loadOrCreateCaMaterial({ kind: 'shared', kv, kek }, options);
    const other = parseKek(crypto.randomBytes(32).toString('hex'));
    await expect(readSharedCaMaterial(kv, other, DEFAULT_SHARED_CA_KEY)).rejects.toThrow(/sealed with KEK/);
    const sameId = parseKek(crypto.randomBytes(32).toString('hex'), kek.id);
    await expect(readSharedCaMaterial(kv, sameId, DEFAULT_SHARED_CA_KEY)).rejects.toThrow(/authentication failed/);
    const sealed = seal(kek, 'hello', 'ctx');
    expect(open(kek, sealed, 'ctx')).toBe('hello');
    expect(() => open(kek, sealed, 'other-ctx')).toThrow(KekError);
    expect(() => open(kek, { ...sealed, ct: Buffer.from('x').toString('base64') }, 'ctx')).toThrow(KekError);
  });

  it('renews the intermediate with compare-and-set', async () => {
    const kv = new MemoryCaKv();
    const material = await loadOrCreateCaMaterial({ kind: 'shared', kv, kek }, options);
    const shared = await readSharedCaMaterial(kv, kek, DEFAULT_SHARED_CA_KEY);
    const next = await withNextIntermediate(material, { trustDomain: TRUST_DOMAIN, now: now + 1000 });
    expect(next.root).toEqual(material.root);
    expect(next.issuer.certPem).not.toBe(material.issuer.certPem);
    expect(await replaceSharedCaMaterial(kv, kek, DEFAULT_SHARED_CA_KEY, next, shared?.version ?? -1)).toBe(true);
    expect(await replaceSharedCaMaterial(kv, kek, DEFAULT_SHARED_CA_KEY, next, shared?.version ?? -1)).toBe(false);
    expect((await readSharedCaMaterial(kv, kek, DEFAULT_SHARED_CA_KEY))?.material).toEqual(next);
  });

  it('parses the KEK from base64, base64url or hex of 32 bytes and nothing else', () => {
    const raw = crypto.randomBytes(32);
    const a = parseKek(raw.toString('base64'));
    expect(parseKek(raw.toString('hex')).key.equals(raw)).toBe(true);
    expect(parseKek(raw.toString('base64url')).key.equals(raw)).toBe(true);
    expect(a.key.equals(raw)).toBe(true);
    expect(a.id).toBe(parseKek(raw.toString('hex')).id);
    expect(() => parseKek(crypto.randomBytes(16).toString('base64'))).toThrow(/ACCORD_CA_KEK: expected 32 bytes/);
    expect(() => parseKek('not a key')).toThrow(KekError);
    expect(kekFromEnv({})).toBeUndefined();
    expect(kekFromEnv({ ACCORD_CA_KEK: raw.toString('hex'), ACCORD_CA_KEK_ID: 'kek-2026' })?.id).toBe('kek-2026');
  });
});
