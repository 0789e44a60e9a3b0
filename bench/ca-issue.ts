/**
 * Leaf issuance throughput against the raw node:crypto ceiling (P-256 keygen + one ECDSA sign per
 * certificate), measured in the same run; then the same with worker threads, and the time to
 * re-key 10,000 workloads. `--quick` uses smaller samples (well under a minute).
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import os from 'node:os';
import * as x509 from '@peculiar/x509';
import { CertificateAuthority } from '../src/ca/authority.js';
import { createCaMaterial } from '../src/ca/material.js';
import { IssuancePool } from '../src/ca/issuance-pool.js';
import { silentLogger } from '../src/observability/logger.js';

const TRUST_DOMAIN = 'bench.local';

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

function measureRawCeiling(count: number, caKey: crypto.KeyObject, tbsSize: number): number {
  const tbs = crypto.randomBytes(tbsSize);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    crypto.sign('sha256', tbs, caKey);
  }
  return rate(count, performance.now() - start);
}

function measureTemplate(ca: CertificateAuthority, count: number, now: number): number {
  const start = performance.now();
  for (let i = 0; i < count; i++) ca.issue({ spiffeId: `spiffe://${TRUST_DOMAIN}/ns/bench/sa/w${i}`, now });
  return rate(count, performance.now() - start);
}

async function measurePeculiar(count: number, issuerCertPem: string, issuerKeyPem: string, now: number): Promise<number> {
  const issuer = new x509.X509Certificate(issuerCertPem);
  const signingKey = await crypto.webcrypto.subtle.importKey(
    'pkcs8',
    crypto.createPrivateKey(issuerKeyPem).export({ type: 'pkcs8', format: 'der' }),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      subject: '',
      issuer: issuer.subjectName,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 24 * 3600_000),
      publicKey: keys.publicKey,
      signingKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${TRUST_DOMAIN}/ns/bench/sa/p${i}` }], true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
      ],
    });
    cert.toString('pem');
    await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  }
  return rate(count, performance.now() - start);
}

export async function run(argv: string[]): Promise<void> {
  const quick = argv.includes('--quick');
  const n = quick ? 3000 : 20000;
  const now = Date.now();
  const material = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now });
  const ca = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger: silentLogger() });
  const caKey = crypto.createPrivateKey(material.issuer.keyPem);
  const tbsSize = ca.issue({ spiffeId: `spiffe://${TRUST_DOMAIN}/ns/bench/sa/probe`, now }).certChainPem.length / 4;

  // Warm up both paths, then alternate to share any machine noise fairly.
  measureRawCeiling(300, caKey, tbsSize);
  measureTemplate(ca, 300, now);
  const limit = Math.max(measureRawCeiling(n, caKey, tbsSize), measureRawCeiling(n, caKey, tbsSize));
  const single = Math.max(measureTemplate(ca, n, now), measureTemplate(ca, n, now));
  const peculiar = await measurePeculiar(quick ? 300 : 1000, material.issuer.certPem, material.issuer.keyPem, now);

  const pool = new IssuancePool({ size: os.availableParallelism() });
  let workers: number;
  let rekeyMs: number;
  try {
    await pool.issueMany(ca, Array.from({ length: 256 }, (_, i) => ({ spiffeId: `spiffe://${TRUST_DOMAIN}/ns/warm/sa/w${i}`, now })));
    const requests = Array.from({ length: 10_000 }, (_, i) => ({ spiffeId: `spiffe://${TRUST_DOMAIN}/ns/fleet/sa/workload-${i}`, now }));
    let start = performance.now();
    const bulk = await pool.issueMany(ca, requests.slice(0, n));
    workers = rate(bulk.length, performance.now() - start);
    start = performance.now();
    const rekeyed = await pool.issueMany(ca, requests);
    rekeyMs = Math.round(performance.now() - start);
    if (rekeyed.length !== 10_000) throw new Error(`re-key produced ${rekeyed.length} certificates`);
  } finally {
    await pool.close();
  }

  const ratio = Math.round((single / limit) * 1000) / 1000;
  const rows: [string, string][] = [
    ['raw node:crypto keygen+sign (limit)', `${limit} /s`],
    ['DER template, single thread', `${single} /s  (${Math.round(ratio * 100)}% of limit)`],
    ['@peculiar/x509 end to end', `${peculiar} /s  (${Math.round((peculiar / limit) * 100)}% of limit)`],
    [`DER template, ${pool.size} worker threads`, `${workers} /s`],
    ['re-key 10,000 workloads (workers)', `${rekeyMs} ms`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`ca-issue (${quick ? 'quick' : 'full'}, n=${n}, ${os.availableParallelism()} cores)`);
  for (const [name, value] of rows) console.log(`  ${name.padEnd(width)}  ${value}`);
  console.log(
    JSON.stringify({
      bench: 'ca-issue',
      n,
      certs_per_s: single,
      limit_per_s: limit,
      ratio,
      peculiar_per_s: peculiar,
      workers_certs_per_s: workers,
      rekey_10k_ms: rekeyMs,
      rss_mb: Math.round(process.memoryUsage().rss / 1048576),
    }),
  );
}
