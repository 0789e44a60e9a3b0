import 'reflect-metadata';
import crypto from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, createCaMaterial } from '../../src/ca/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { run, tempDir } from './support.js';

/**
 * Issue #9, item 15: the intermediate carries a URI name constraint for its trust domain, so a
 * leaf naming another trust domain fails verification even if the intermediate key signed it.
 */
describe('URI name constraints on the intermediate', () => {
  let dir: { dir: string; remove(): Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await dir.remove();
  });

  /** A leaf for `spiffeId` signed directly with the intermediate's key (bypassing the CA's own checks). */
  async function forgedLeaf(issuerCertPem: string, issuerKeyPem: string, spiffeId: string): Promise<string> {
    const issuer = new x509.X509Certificate(issuerCertPem);
    const signingKey = await crypto.webcrypto.subtle.importKey(
      'pkcs8',
      crypto.createPrivateKey(issuerKeyPem).export({ type: 'pkcs8', format: 'der' }),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: '01',
      subject: '',
      issuer: issuer.subjectName,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true), new x509.BasicConstraintsExtension(false, undefined, true)],
    });
    return leaf.toString('pem') + '\n';
  }

  it('openssl verify: leaves of the trust domain (with DNS/IP SANs too) pass; a leaf for another trust domain fails', async () => {
    const now = Date.now();
    const material = await createCaMaterial({ trustDomain: 'mesh.test', now });
    const ca = new CertificateAuthority({ material, trustDomain: 'mesh.test', logger: silentLogger() });
    const root = path.join(dir.dir, 'root.pem');
    const chain = path.join(dir.dir, 'intermediate.pem');
    await writeFile(root, material.root.certPem);
    await writeFile(chain, material.issuer.certPem);
    const text = (await run('openssl', ['x509', '-noout', '-ext', 'nameConstraints', '-in', chain])).stdout;
    console.log(`intermediate: ${text.replace(/\s+/g, ' ').trim()}`);
    const verify = async (name: string, pem: string): Promise<string> => {
      const file = path.join(dir.dir, `${name}.pem`);
      await writeFile(file, pem);
      try {
        return (await run('openssl', ['verify', '-CAfile', root, '-untrusted', chain, file])).stdout.trim();
      } catch (error) {
        return String((error as { stdout?: string; stderr?: string }).stderr ?? (error as Error).message).trim();
      }
    };
    const workload = ca.issue({ spiffeId: 'spiffe://mesh.test/ns/default/sa/orders', now });
    const server = ca.issue({ spiffeId: 'spiffe://mesh.test/ns/accord-system/sa/accord', dnsNames: ['localhost', 'accord.accord-system'], ipAddresses: ['127.0.0.1'], now });
    const foreign = await forgedLeaf(material.issuer.certPem, material.issuer.keyPem, 'spiffe://other.test/ns/default/sa/orders');
    const results = {
      workload: await verify('workload', workload.certChainPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n'),
      server: await verify('server', server.certChainPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n'),
      foreign: await verify('foreign', foreign),
    };
    console.log(`openssl verify: ${JSON.stringify(results)}`);
    expect(text).toMatch(/Permitted:\s+URI:mesh\.test/);
    expect(results.workload).toMatch(/: OK$/);
    expect(results.server).toMatch(/: OK$/);
    expect(results.foreign).toMatch(/permitted subtree violation/);
  });
});
