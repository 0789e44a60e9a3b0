import crypto from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { parseKek } from '../../src/ca/envelope.js';
import { renewIntermediateIfDue } from '../../src/ca/intermediate-renewal.js';
import { MemoryCaKv } from '../../src/ca/kv.js';
import { loadOrCreateCaMaterial } from '../../src/ca/material.js';
import { IssuancePool } from '../../src/ca/issuance-pool.js';
import { tlsCertificateSecret } from '../../src/ca/sds.js';
import { TokenError, WorkloadTokens } from '../../src/ca/tokens.js';
import { createLogger } from '../../src/observability/logger.js';
import { TRUST_DOMAIN, spiffe, tempDir } from './helpers.js';

const DAY = 24 * 3600_000;

describe('private keys and tokens never reach the logs', () => {
  it('a full load/issue/rotate/revoke/token cycle logs no PEM block, key or token', async () => {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger({ destination, level: 'trace' });
    const now = Date.now();
    const tmp = await tempDir();
    const secrets: string[] = [];
    try {
      const kekText = crypto.randomBytes(32).toString('base64');
      secrets.push(kekText);
      const kek = parseKek(kekText);
      await loadOrCreateCaMaterial({ kind: 'data-dir', dataDir: tmp.dir }, { trustDomain: TRUST_DOMAIN, now, logger });
      const material = await loadOrCreateCaMaterial({ kind: 'shared', kv: new MemoryCaKv(), kek }, { trustDomain: TRUST_DOMAIN, now, logger });
      secrets.push(material.tokenKey, material.issuer.keyPem, material.root.keyPem ?? '');
      const ca = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger });

      const leaf = ca.issue({ spiffeId: spiffe('default', 'web'), now });
      secrets.push(leaf.keyPem);
      const pool = new IssuancePool({ size: 1 });
      try {
        for (const bulk of await pool.issueMany(ca, [{ spiffeId: spiffe('default', 'bulk'), now }])) secrets.push(bulk.keyPem);
      } finally {
        await pool.close();
      }
      expect(await renewIntermediateIfDue({ ca, now: now + 200 * DAY })).toBe('renewed');
      secrets.push(ca.currentMaterial.issuer.keyPem);
      ca.revokeSerial(leaf.serial, now);
      ca.revokeIdentity(spiffe('default', 'web'), now);
      await ca.crlPem(now);
      ca.checkExpiry(now + 530 * DAY); // the renewed intermediate (from day 200) is near its end
      try {
        ca.issue({ spiffeId: spiffe('default', 'web'), now });
      } catch (err) {
        logger.error({ err }, 'issuance refused');
      }

      const tokens = WorkloadTokens.hs256(material.tokenKey);
      const token = await tokens.mint({ workloadId: 'web-1', spiffeId: spiffe('default', 'web'), ttlMs: 60_000, now });
      secrets.push(token);
      try {
        await tokens.verify(token, now + 120_000);
      } catch (err) {
        expect(err).toBeInstanceOf(TokenError);
        logger.warn({ err }, 'token refused');
      }
      try {
        await tokens.verify(token.slice(0, -4) + 'AAAA', now);
      } catch (err) {
        logger.warn({ err }, 'token refused');
      }
      // A careless caller logging whole results: the shared redaction covers the fields we return.
      logger.info({ keyPem: leaf.keyPem, token, secret: { keyPem: leaf.keyPem } }, 'careless');
      logger.info({ secret: tlsCertificateSecret('default', leaf.certChainPem, leaf.keyPem).tls_certificate.private_key.inline_string.length }, 'length only');
    } finally {
      await tmp.cleanup();
    }

    const output = chunks.join('');
    expect(output.length).toBeGreaterThan(500);
    expect(output).toContain('certificate revoked');
    expect(output).toContain('CA certificate expires soon');
    expect(output).not.toContain('-----BEGIN');
    expect(output).not.toContain('PRIVATE KEY');
    for (const secret of secrets.filter(Boolean)) {
      const probe = secret.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '').slice(0, 40);
      expect(output).not.toContain(probe);
    }
    // JWT-shaped strings (three base64url segments starting with eyJ) must not appear at all.
    expect(output).not.toMatch(/eyJ[\w-]+\.[\w-]+\.[\w-]+/);
  });
});
