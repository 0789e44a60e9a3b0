import { beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../src/ca/index.js';
import type { Workload } from '../../src/core/workload.js';
import type { CaRuntime } from '../../src/identity/ca-runtime.js';
import { TrustLedger } from '../../src/identity/trust-ledger.js';
import { newCa } from '../ca/helpers.js';

const OLD_ROOT = 'a'.repeat(64);
const NEW_ROOT = 'b'.repeat(64);
const START = 1_000_000;

/** A ledger over one registered workload, outside a rotation (the runtime reduced to its CA). */
function ledgerWith(ca: CertificateAuthority) {
  const clock = { now: START };
  const workload = { id: 'orders-1', service: 'orders' } as unknown as Workload;
  const ledger = new TrustLedger({
    runtime: { ca, rotation: undefined } as unknown as CaRuntime,
    workload: (id) => (id === workload.id ? workload : undefined),
    isRevoked: () => false,
    sdsHolders: () => [],
    rotationGraceMs: 60_000,
    now: () => clock.now,
    onTrustChange: () => undefined,
  });
  const trustAt = (at: number): readonly string[] | undefined => {
    clock.now = at;
    return ledger.fleet().proxies.find((p) => p.id === 'agent:orders-1')?.trust;
  };
  return { ledger, trustAt };
}

describe('TrustLedger: what an agent holds, as the root-rotation gates see it', () => {
  let ca: CertificateAuthority;
  beforeAll(async () => {
    ({ ca } = await newCa(Date.now()));
  });

  const leaf = (serial: string, at: number) => ({ serial, issuer: ca.issuerFingerprint, notAfter: at + 12_000 });

  it('a leaf renewal that hands back the bundle the agent already holds keeps that bundle settled', () => {
    const { ledger, trustAt } = ledgerWith(ca);
    ledger.recordAgentLeaf('orders-1', leaf('01', START), [OLD_ROOT, NEW_ROOT], START);
    // A new bundle counts once the agent's files have been re-read (2.5 s).
    expect(trustAt(START + 1_000)).toBeUndefined();
    expect(trustAt(START + 3_000)).toEqual([OLD_ROOT, NEW_ROOT]);
    // Renewing every half-life with the same bundle must not make it unsettled again: a fleet of
    // agents renewing at different moments would then never be settled all at once.
    ledger.recordAgentLeaf('orders-1', leaf('02', START + 6_000), [OLD_ROOT, NEW_ROOT], START + 6_000);
    expect(trustAt(START + 6_001)).toEqual([OLD_ROOT, NEW_ROOT]);
    expect(ledger.recordAgentBundle('orders-1', [OLD_ROOT, NEW_ROOT], START + 6_500)).toBe(false);
    expect(trustAt(START + 6_501)).toEqual([OLD_ROOT, NEW_ROOT]);
  });

  it('a different bundle, with a leaf or fetched alone, is settled only 2.5 s after the agent got it', () => {
    const { ledger, trustAt } = ledgerWith(ca);
    ledger.recordAgentLeaf('orders-1', leaf('01', START), [OLD_ROOT], START);
    expect(trustAt(START + 3_000)).toEqual([OLD_ROOT]);
    ledger.recordAgentBundle('orders-1', [OLD_ROOT, NEW_ROOT], START + 4_000);
    expect(trustAt(START + 4_001)).toBeUndefined();
    expect(trustAt(START + 6_500)).toEqual([OLD_ROOT, NEW_ROOT]);
    ledger.recordAgentLeaf('orders-1', leaf('02', START + 7_000), [NEW_ROOT], START + 7_000);
    expect(trustAt(START + 7_001)).toBeUndefined();
    expect(trustAt(START + 9_400)).toBeUndefined();
    expect(trustAt(START + 9_500)).toEqual([NEW_ROOT]);
  });
});
