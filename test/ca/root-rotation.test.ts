import crypto from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../src/ca/authority.js';
import { MemoryCaKv } from '../../src/ca/kv.js';
import { createCaMaterial, type CaMaterial } from '../../src/ca/material.js';
import {
  TrustChangeError,
  advanceRootRotation,
  beginRootRotation,
  checkTrustChange,
  issuerFor,
  phaseGate,
  phaseTrustPem,
  trustFor,
  type CaGeneration,
  type FleetView,
  type ProxyAckState,
  type RootRotationPhase,
  type RootRotationState,
} from '../../src/ca/root-rotation-plan.js';
import { RootRotation, caGeneration } from '../../src/ca/root-rotation-store.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TRUST_DOMAIN, spiffe } from './helpers.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;


function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

interface Leaf {
  readonly issuer: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

interface Pending<T> {
  readonly value: T;
  readonly ackAt: number;
}

/** One simulated Envoy: what it ACKed, and what is in flight to it (it may apply that at any moment). */
class SimProxy {
  trust?: readonly string[];
  leaf?: Leaf;
  pendingTrust?: Pending<readonly string[]>;
  pendingLeaf?: Pending<Leaf>;
  constructor(
    readonly id: string,
    /** Ticks until it ACKs a push; Infinity for a proxy that never ACKs. */
    readonly ackDelay: () => number,
  ) {}

  view(): ProxyAckState {
    return { id: this.id, trust: this.trust, leafIssuer: this.leaf?.issuer, leafNotAfter: this.leaf?.notAfter };
  }
}

describe('root rotation planner: pure rules', () => {
  const a: CaGeneration = { rootCertPem: 'A', rootFingerprint: 'ra', issuerFingerprint: 'ia' };
  const b: CaGeneration = { rootCertPem: 'B', rootFingerprint: 'rb', issuerFingerprint: 'ib' };

  it('rejects a trust change that is neither superset nor subset, and an empty one', () => {
    expect(() => checkTrustChange(['ra'], ['rb'])).toThrow(TrustChangeError);
    expect(() => checkTrustChange(['ra', 'rc'], ['ra', 'rb'])).toThrow(/neither adds to nor removes/);
    expect(() => checkTrustChange(['ra'], [])).toThrow(/no trusted root/);
    expect(() => checkTrustChange(['ra'], ['ra', 'rb'])).not.toThrow();
    expect(() => checkTrustChange(['ra', 'rb'], ['rb'])).not.toThrow();
    expect(() => beginRootRotation(a, a, 0)).toThrow(TrustChangeError);
  });

  it('P2 is refused while one proxy lags on the combined bundle; P3 while one still holds an old leaf', () => {
    let state = beginRootRotation(a, b, 0);
    state = (advanceRootRotation(state, { proxies: [] }, 1) as { state: RootRotationState }).state;
    expect(state.phase).toBe('P1_ADD_TRUST');
    const lagging: FleetView = {
      proxies: [
        { id: 'p1', trust: ['ra', 'rb'], leafIssuer: 'ia' },
        { id: 'p2', trust: ['ra'], leafIssuer: 'ia' },
      ],
    };
    const refused = advanceRootRotation(state, lagging, 2);
    expect(refused).toMatchObject({ advanced: false, gate: { open: false, waitingFor: ['p2'] } });
    const ready: FleetView = { proxies: lagging.proxies.map((p) => ({ ...p, trust: ['rb', 'ra'] })) };
    state = (advanceRootRotation(state, ready, 3) as { state: RootRotationState }).state;
    expect(state.phase).toBe('P2_SWITCH_ISSUER');
    expect(issuerFor(state, ready.proxies[0])).toBe('next');
    expect(issuerFor(state, { id: 'new' })).toBe('old');
    const oldLeaf: FleetView = { proxies: [{ id: 'p1', trust: ['ra', 'rb'], leafIssuer: 'ib' }, { id: 'p2', trust: ['ra', 'rb'], leafIssuer: 'ia' }] };
    expect(advanceRootRotation(state, oldLeaf, 4)).toMatchObject({ advanced: false, gate: { waitingFor: ['p2'] } });
    const agentLeaf: FleetView = {
      proxies: [{ id: 'p1', trust: ['ra', 'rb'], leafIssuer: 'ib' }],
      otherLeaves: [{ holder: 'agent-7', issuerFingerprint: 'ia', notAfter: 100 }],
    };
    expect(advanceRootRotation(state, agentLeaf, 50)).toMatchObject({ advanced: false, gate: { waitingFor: ['agent-7'] } });
    state = (advanceRootRotation(state, agentLeaf, 100) as { state: RootRotationState }).state;
    expect(state.phase).toBe('P3_REMOVE_TRUST');
    expect(trustFor(state, { id: 'p1', leafIssuer: 'ib' })).toEqual(['rb']);
    expect(trustFor(state, { id: 'stale', leafIssuer: 'ia' })).toEqual(['ra', 'rb']);
    expect(phaseTrustPem(state)).toBe('B');
  });
});

describe('root rotation against a simulated fleet', () => {
  const start = Date.now();
  let oldMaterial: CaMaterial;
  let nextMaterial: CaMaterial;

  beforeAll(async () => {
    oldMaterial = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now: start - HOUR });
    nextMaterial = await createCaMaterial({ trustDomain: TRUST_DOMAIN, now: start });
  });

  it('never breaks trust, never advances before a gate, reports the stuck proxy, and survives a replica restart', async () => {
    const random = seeded(2026);
    const cas = {
      old: new CertificateAuthority({ material: oldMaterial, trustDomain: TRUST_DOMAIN, logger: silentLogger() }),
      next: new CertificateAuthority({ material: nextMaterial, trustDomain: TRUST_DOMAIN, logger: silentLogger() }),
    };
    const old = caGeneration(oldMaterial);
    const next = caGeneration(nextMaterial);
    const rootOfIssuer = new Map([
      [old.issuerFingerprint, old.rootFingerprint],
      [next.issuerFingerprint, next.rootFingerprint],
    ]);
    const leafTtl = 6 * HOUR;
    const tick = 5 * MINUTE;
    let now = start;

    const fleet: SimProxy[] = [];
    const stuckId = 'proxy-stuck';
    for (let i = 0; i < 300; i++) {
      const slow = i % 10 === 3;
      fleet.push(new SimProxy(`proxy-${String(i).padStart(3, '0')}`, slow ? () => 20 + Math.floor(random() * 40) : () => 1 + Math.floor(random() * 3)));
    }
    fleet.push(new SimProxy(stuckId, () => Infinity));
    const issued = (which: 'old' | 'next', id: string): Leaf => {
      const leaf = cas[which].issue({ spiffeId: spiffe('sim', id), now, ttlMs: leafTtl });
      return { issuer: leaf.issuerFingerprint, notBefore: leaf.notBefore, notAfter: leaf.notAfter };
    };
    // Steady state before the rotation: everyone trusts R1 and holds an I1 leaf.
    for (const proxy of fleet) {
      proxy.trust = [old.rootFingerprint];
      proxy.leaf = issued('old', proxy.id);
    }

    const kv = new MemoryCaKv();
    let replicas = [new RootRotation(kv), new RootRotation(kv)];
    await replicas[0].begin(old, next, now);
    await replicas[1].begin(old, next, now); // the second replica joins the same rotation
    const phasesSeen: RootRotationPhase[] = ['P0_PREPARE'];
    let violations = 0;
    let stuckReported = false;
    let joiners = 0;

    const effectiveTrust = (proxy: SimProxy): readonly string[] | undefined => {
      // In flight: it may or may not have applied the new bundle yet, so only roots in both count.
      if (proxy.trust && proxy.pendingTrust) return proxy.trust.filter((fp) => proxy.pendingTrust?.value.includes(fp));
      return proxy.trust ?? proxy.pendingTrust?.value;
    };
    const checkInvariant = (): void => {
      // I1: every leaf any proxy may present (ACKed or in flight) chains to a root every peer trusts.
      const presented = new Set<string>();
      for (const proxy of fleet) {
        for (const leaf of [proxy.leaf, proxy.pendingLeaf?.value]) {
          if (leaf && leaf.notAfter > now) presented.add(rootOfIssuer.get(leaf.issuer) ?? 'unknown');
        }
      }
      for (const proxy of fleet) {
        const trust = effectiveTrust(proxy);
        if (!trust) continue;
        for (const root of presented) if (!trust.includes(root)) violations++;
      }
    };
    const independentGateHolds = (phase: RootRotationPhase, view: FleetView): boolean => {
      const both = new Set([old.rootFingerprint, next.rootFingerprint]);
      switch (phase) {
        case 'P0_PREPARE':
          return true;
        case 'P1_ADD_TRUST':
          return view.proxies.every((p) => p.trust?.length === 2 && p.trust.every((fp) => both.has(fp)));
        case 'P2_SWITCH_ISSUER':
          return view.proxies.every((p) => p.leafIssuer === next.issuerFingerprint);
        case 'P3_REMOVE_TRUST':
          return view.proxies.every((p) => p.trust?.length === 1 && p.trust[0] === next.rootFingerprint);
        default:
          return false;
      }
    };

    for (let step = 0; step < 5000; step++) {
      now += tick;
      // 1. ACKs arrive.
      for (const proxy of fleet) {
        if (proxy.pendingTrust && proxy.pendingTrust.ackAt <= step) {
          proxy.trust = proxy.pendingTrust.value;
          proxy.pendingTrust = undefined;
        }
        if (proxy.pendingLeaf && proxy.pendingLeaf.ackAt <= step) {
          proxy.leaf = proxy.pendingLeaf.value;
          proxy.pendingLeaf = undefined;
        }
      }
      checkInvariant();

      // 2. Both replicas try to advance on the same fleet view.
      const view: FleetView = { proxies: fleet.map((p) => p.view()) };
      for (const replica of replicas) {
        const before = (await replica.current()) as RootRotationState;
        const result = await replica.advance(view, now);
        if (result.advanced) {
          expect(independentGateHolds(before.phase, view)).toBe(true);
          phasesSeen.push(result.state.phase);
        } else if (result.state.phase === 'P1_ADD_TRUST' && result.gate.waitingFor.length === 1 && result.gate.waitingFor[0] === stuckId) {
          stuckReported = true;
        }
      }
      const state = (await replicas[0].current()) as RootRotationState;

      // The stuck proxy is fenced once it is the only one left holding up P1 for a long time.
      if (stuckReported && state.phase === 'P1_ADD_TRUST' && step > 400) {
        const index = fleet.findIndex((p) => p.id === stuckId);
        if (index >= 0) fleet.splice(index, 1);
      }
      // A replica restarts mid-rotation: a fresh instance resumes from the shared state.
      if (step === 150) replicas = [new RootRotation(kv), replicas[1]];
      // New proxies join while the issuer is switching.
      if (state.phase === 'P2_SWITCH_ISSUER' && joiners < 5) {
        fleet.push(new SimProxy(`joiner-${joiners++}`, () => 1 + Math.floor(random() * 3)));
      }

      // 3. Pushes: trust first; leaves from whichever issuer the planner says, re-issued at half-life.
      for (const proxy of fleet) {
        const trust = trustFor(state, proxy.view());
        const current = proxy.pendingTrust?.value ?? proxy.trust;
        if (!current || current.length !== trust.length || !trust.every((fp) => current.includes(fp))) {
          if (current) checkTrustChange(current, trust);
          proxy.pendingTrust = { value: trust, ackAt: step + proxy.ackDelay() };
        }
        const which = issuerFor(state, proxy.view());
        const wanted = which === 'old' ? old.issuerFingerprint : next.issuerFingerprint;
        const leaf = proxy.pendingLeaf?.value ?? proxy.leaf;
        const halfLife = leaf ? leaf.notBefore + (leaf.notAfter - leaf.notBefore) / 2 : 0;
        if (!leaf || leaf.issuer !== wanted || now >= halfLife) {
          proxy.pendingLeaf = { value: issued(which, proxy.id), ackAt: step + proxy.ackDelay() };
        }
      }
      checkInvariant();
      if (state.phase === 'P4_RETIRED') break;
    }

    expect(violations).toBe(0);
    expect(stuckReported).toBe(true);
    expect(phasesSeen).toEqual(['P0_PREPARE', 'P1_ADD_TRUST', 'P2_SWITCH_ISSUER', 'P3_REMOVE_TRUST', 'P4_RETIRED']);
    const final = (await new RootRotation(kv).current()) as RootRotationState;
    expect(final.phase).toBe('P4_RETIRED');
    expect(fleet.every((p) => p.trust?.length === 1 && p.trust[0] === next.rootFingerprint)).toBe(true);
    expect(fleet.every((p) => p.leaf?.issuer === next.issuerFingerprint)).toBe(true);
    expect(joiners).toBe(5);
  }, 120_000);

  it('a gate reports every lagging proxy by id', () => {
    const old = caGeneration(oldMaterial);
    const next = caGeneration(nextMaterial);
    const state: RootRotationState = { ...beginRootRotation(old, next, start), phase: 'P1_ADD_TRUST' };
    const proxies = Array.from({ length: 50 }, (_, i) => ({
      id: `p${i}`,
      trust: i % 7 === 0 ? [old.rootFingerprint] : [old.rootFingerprint, next.rootFingerprint],
    }));
    const gate = phaseGate(state, { proxies }, start);
    expect(gate.open).toBe(false);
    expect(gate.waitingFor).toEqual(proxies.filter((_, i) => i % 7 === 0).map((p) => p.id).sort());
    expect(gate.reason).toContain('waiting for 8');
  });

  it('state round-trips through the KV and survives corruption checks', async () => {
    const kv = new MemoryCaKv();
    const rotation = new RootRotation(kv, `rot-${crypto.randomUUID()}`);
    await expect(rotation.advance({ proxies: [] }, start)).rejects.toThrow(/no root rotation has been started/);
    const state = await rotation.begin(caGeneration(oldMaterial), caGeneration(nextMaterial), start);
    expect(await rotation.current()).toEqual(state);
  });
});
