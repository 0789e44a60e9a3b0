import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IssuanceError, IssuancePool, type CertificateAuthority } from '../../src/ca/index.js';
import { DEFAULT_MESH } from '../../src/core/policy.js';
import type { Workload } from '../../src/core/workload.js';
import { IssuanceLimiter } from '../../src/identity/issuance-limiter.js';
import type { WorkloadRevocations } from '../../src/identity/revocations.js';
import { SecretIssuer } from '../../src/identity/secret-issuer.js';
import type { TrustLedger } from '../../src/identity/trust-ledger.js';
import { newCa, spiffe } from '../ca/helpers.js';

const workload = (id: string): Workload =>
  ({ id, service: 'svc', namespace: 'default', serviceAccount: id, address: '10.0.0.1', port: 80, meshPort: 15006, protocol: 'http', labels: {}, locality: {}, health: 'HEALTHY', upstreams: [] }) as unknown as Workload;

/** The issuer with a real CA and pool; the ledger and revocations reduced to what issuance reads and writes. */
function issuerWith(ca: CertificateAuthority, pool: IssuancePool | undefined) {
  const revoked = new Set<string>();
  const recorded: { workloadId: string; serial: string }[] = [];
  const revocations = {
    isRevoked: (id: string) => revoked.has(id),
    recordIssued: (workloadId: string, serial: string) => recorded.push({ workloadId, serial }),
  } as unknown as WorkloadRevocations;
  const ledger = { issuingCa: () => ca } as unknown as TrustLedger;
  const issuer = new SecretIssuer({
    ledger,
    revocations,
    limiter: new IssuanceLimiter({ burst: 100, perMinute: 60 }, Date.now),
    mesh: () => DEFAULT_MESH,
    spiffeIdOf: (w) => spiffe('default', w.serviceAccount),
    random: () => 0.5,
    ...(pool ? { pool } : {}),
  });
  return { issuer, revoked, recorded };
}

describe('SecretIssuer with worker-thread issuance', () => {
  let ca: CertificateAuthority;
  let pool: IssuancePool;
  beforeAll(async () => {
    ({ ca } = await newCa(Date.now()));
    pool = new IssuancePool({ size: 1 });
  });
  afterAll(() => pool.close());

  it('issues the same secret shape as on the event loop: chain to the issuer, SPIFFE SAN, matching key', async () => {
    for (const usePool of [true, false]) {
      const { issuer, recorded } = issuerWith(ca, usePool ? pool : undefined);
      const leaf = await issuer.issueLeaf(workload(`w-${usePool}`), Date.now(), 'request');
      const tls = leaf.secret.tls_certificate;
      const cert = new crypto.X509Certificate(tls.certificate_chain.inline_string);
      expect(cert.subjectAltName).toBe(`URI:${spiffe('default', `w-${usePool}`)}`);
      expect(cert.verify(new crypto.X509Certificate(ca.currentMaterial.issuer.certPem).publicKey)).toBe(true);
      expect(cert.checkPrivateKey(crypto.createPrivateKey(tls.private_key.inline_string))).toBe(true);
      expect(leaf.issuer).toBe(ca.issuerFingerprint);
      expect(recorded).toEqual([{ workloadId: `w-${usePool}`, serial: leaf.serial }]);
    }
  });

  it('a workload revoked while its leaf is being signed never gets it', async () => {
    const { issuer, revoked, recorded } = issuerWith(ca, pool);
    const issuing = issuer.issueLeaf(workload('late'), Date.now(), 'request');
    revoked.add('late');
    await expect(issuing).rejects.toBeInstanceOf(IssuanceError);
    await expect(issuing).rejects.toMatchObject({ code: 'REVOKED' });
    expect(recorded).toEqual([]);
  });
});
