import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { splitCertificates } from '../../src/ca/der.js';
import { renewIntermediateIfDue } from '../../src/ca/intermediate-renewal.js';
import { expirySeverity, nextIntermediateAt, shouldPrepareNextIntermediate } from '../../src/ca/lifecycle.js';
import { createCaMaterial } from '../../src/ca/material.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetricsRegistry } from '../../src/observability/metrics.js';
import { TRUST_DOMAIN, openssl, spiffe, tempDir } from './helpers.js';

const DAY = 24 * 3600_000;

function captureLogger(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const logger = createLogger({ destination, level: 'debug' });
  return {
    logger,
    lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('CA lifecycle', () => {
  it('expiry severity: ok, warning well ahead, critical near the end, expired after', () => {
    const intermediate = { notBefore: 0, notAfter: 365 * DAY };
    expect(expirySeverity(intermediate, 100 * DAY)).toBe('ok');
    expect(expirySeverity(intermediate, 300 * DAY)).toBe('warning');
    expect(expirySeverity(intermediate, 360 * DAY)).toBe('critical');
    expect(expirySeverity(intermediate, 366 * DAY)).toBe('expired');
    const root = { notBefore: 0, notAfter: 3650 * DAY };
    expect(expirySeverity(root, 2900 * DAY)).toBe('ok');
    expect(expirySeverity(root, 3000 * DAY)).toBe('warning');
    const short = { notBefore: 0, notAfter: DAY };
    expect(expirySeverity(short, 0.1 * DAY)).toBe('ok');
    expect(expirySeverity(short, 0.97 * DAY)).toBe('critical');
  });

  it('prepares the next intermediate at half-life, or earlier when leaves are long', () => {
    const cert = { notBefore: 0, notAfter: 365 * DAY };
    expect(nextIntermediateAt(cert, { maxLeafTtlMs: DAY })).toBe(182.5 * DAY);
    expect(shouldPrepareNextIntermediate(cert, 182 * DAY, { maxLeafTtlMs: DAY })).toBe(false);
    expect(shouldPrepareNextIntermediate(cert, 183 * DAY, { maxLeafTtlMs: DAY })).toBe(true);
    // Leaves of 100 days: prepare while the current one still has two leaf lifetimes (+ margin) left.
    expect(nextIntermediateAt(cert, { maxLeafTtlMs: 100 * DAY, marginMs: 0 })).toBe(165 * DAY);
  });

  it('checkExpiry reports each CA certificate, sets the gauge and warns once per severity change; status has no side effects', async () => {
    const now = Date.now();
    const material = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now });
    const registry = createMetricsRegistry({ defaultMetrics: false });
    const { logger, lines } = captureLogger();
    const ca = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger, metrics: registry });
    const fresh = ca.checkExpiry(now);
    expect(fresh.severity).toBe('ok');
    expect(fresh.certs.map((c) => c.cert)).toEqual(['root', 'intermediate']);
    expect(fresh.nextIntermediateAt).toBeGreaterThan(now);
    const metrics = await registry.metrics();
    expect(metrics).toMatch(/accord_ca_cert_expiry_seconds\{cert="intermediate"\} 3153\d{4}/);
    expect(metrics).toMatch(/accord_ca_cert_expiry_seconds\{cert="root"\} 31\d{7}/);
    expect(lines().filter((l) => l.msg === 'CA certificate expires soon')).toHaveLength(0);

    const late = now + 330 * DAY;
    // A health probe near expiry: no warning, no gauge change.
    for (let probe = 0; probe < 5; probe += 1) expect(ca.status(late).severity).toBe('warning');
    expect(lines().filter((l) => l.msg === 'CA certificate expires soon')).toHaveLength(0);
    expect(await registry.metrics()).toMatch(/accord_ca_cert_expiry_seconds\{cert="intermediate"\} 3153\d{4}/);
    const status = ca.checkExpiry(late);
    ca.checkExpiry(late + 1000);
    expect(status.severity).toBe('warning');
    expect(status.certs.find((c) => c.cert === 'intermediate')?.severity).toBe('warning');
    const warnings = lines().filter((l) => l.msg === 'CA certificate expires soon');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, cert: 'intermediate', severity: 'warning' });
    expect(await registry.metrics()).toMatch(/accord_ca_cert_expiry_seconds\{cert="intermediate"\} \d{7}\b/);
    // A second CA on the same registry reuses the gauge instead of throwing.
    expect(() => new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger, metrics: registry })).not.toThrow();
  });

  it('renews the intermediate when due; leaves from both verify under the same root', async () => {
    const now = Date.now();
    const material = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now });
    const { logger } = captureLogger();
    const ca = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger });
    expect(await renewIntermediateIfDue({ ca, now: now + DAY })).toBe('not-due');
    const before = ca.issue({ spiffeId: spiffe('default', 'a'), now });
    const due = now + 200 * DAY;
    expect(await renewIntermediateIfDue({ ca, now: due, persist: async () => false })).toBe('lost-race');
    expect(ca.issuerFingerprint).toBe(before.issuerFingerprint);
    expect(await renewIntermediateIfDue({ ca, now: due })).toBe('renewed');
    expect(ca.issuerFingerprint).not.toBe(before.issuerFingerprint);
    expect(ca.trustBundlePem()).toBe(material.root.certPem);
    const after = ca.issue({ spiffeId: spiffe('default', 'a'), now: due });
    const tmp = await tempDir();
    try {
      const bundle = await tmp.file('ca.pem', ca.trustBundlePem());
      for (const [leaf, at] of [[before, now], [after, due]] as const) {
        const [leafPem, inter] = splitCertificates(leaf.certChainPem);
        const result = await openssl(['verify', '-attime', String(Math.floor(at / 1000)), '-CAfile', bundle, '-untrusted', await tmp.file(`i-${leaf.serial}.pem`, inter), await tmp.file(`l-${leaf.serial}.pem`, leafPem)]);
        expect(result.stdout).toContain(': OK');
      }
    } finally {
      await tmp.cleanup();
    }
    const withoutRootKey = new CertificateAuthority({ material: { ...material, root: { certPem: material.root.certPem } }, trustDomain: TRUST_DOMAIN, logger });
    expect(await renewIntermediateIfDue({ ca: withoutRootKey, now: due })).toBe('no-root-key');
    expect(new crypto.X509Certificate(after.certChainPem).issuer).not.toBe(new crypto.X509Certificate(before.certChainPem).issuer);
  });
});
