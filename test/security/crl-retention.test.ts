import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/index.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TRUST_DOMAIN, newCa } from '../ca/helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * Issue #9, item 7: a serial revoked on a replica that did not issue it (or after a restart, when
 * the ledger of issued certificates is gone) must stay in the CRL for as long as any leaf could
 * still be valid: the upper bound of `Mesh.certificates.ttl` (30 days), not 24 hours.
 */
describe('CRL retention of revoked serials this replica did not issue', () => {
  it('keeps a 7-day leaf issued by another replica in the CRL until it expires', async () => {
    const now = Date.UTC(2030, 0, 1);
    const { ca: issuing, material } = await newCa(now);
    const leaf = issuing.issue({ spiffeId: `spiffe://${TRUST_DOMAIN}/ns/default/sa/orders`, now, ttlMs: 7 * DAY });

    // Another replica: same CA material, its own (empty) ledger.
    const revoking = new CertificateAuthority({ material, trustDomain: TRUST_DOMAIN, logger: silentLogger() });
    revoking.revokeSerial(leaf.serial, now);

    const listedAt = async (at: number): Promise<boolean> => {
      const crl = new x509.X509Crl((await revoking.crlPem(at)).pem.replace(/X509 CRL/g, 'CRL'));
      return crl.entries.some((entry) => entry.serialNumber.toLowerCase() === leaf.serial);
    };
    for (const [label, at] of [
      ['+1h', now + HOUR],
      ['+25h', now + 25 * HOUR],
      ['+6d', now + 6 * DAY],
      ['+29d', now + 29 * DAY],
    ] as const) {
      const listed = await listedAt(at);
      console.log(`revoked serial in CRL at ${label}: ${listed}`);
      expect(listed, label).toBe(true);
    }
    // Past the longest leaf any Mesh policy can ask for (plus the clock-skew backdate) it may go.
    expect(await listedAt(now + 31 * DAY)).toBe(false);
  });
});
