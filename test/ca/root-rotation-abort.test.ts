/**
 * Aborting and fencing in the pure planner: from P2 every leaf comes from the old issuer again and
 * the new root stays trusted until no proxy holds a new-issuer leaf; from P3 on an abort is
 * refused; a fenced proxy holds no gate.
 */
import { describe, expect, it } from 'vitest';
import {
  RotationPhaseError,
  abortRootRotation,
  advanceRootRotation,
  beginRootRotation,
  fenceProxies,
  issuerFor,
  phaseTrust,
  trustFor,
  type CaGeneration,
  type FleetView,
  type RootRotationState,
} from '../../src/ca/root-rotation-plan.js';

const a: CaGeneration = { rootCertPem: 'A', rootFingerprint: 'ra', issuerFingerprint: 'ia' };
const b: CaGeneration = { rootCertPem: 'B', rootFingerprint: 'rb', issuerFingerprint: 'ib' };

function advanced(state: RootRotationState, fleet: FleetView, now: number): RootRotationState {
  const result = advanceRootRotation(state, fleet, now);
  if (!result.advanced) throw new Error(`did not advance: ${result.gate.reason}`);
  return result.state;
}

describe('root rotation abort and fence', () => {
  it('from P2: old issuer again, both roots trusted until no proxy holds a new leaf, then the old root alone', () => {
    let state = advanced(beginRootRotation(a, b, 0), { proxies: [] }, 1);
    state = advanced(state, { proxies: [{ id: 'p1', trust: ['ra', 'rb'], leafIssuer: 'ia' }] }, 2);
    expect(state.phase).toBe('P2_SWITCH_ISSUER');
    const onNew: FleetView = { proxies: [{ id: 'p1', trust: ['ra', 'rb'], leafIssuer: 'ib' }] };
    expect(issuerFor(state, onNew.proxies[0] ?? { id: '' })).toBe('next');

    const aborting = abortRootRotation(state, 3);
    expect(aborting.abort).toEqual({ at: 3, from: 'P2_SWITCH_ISSUER' });
    expect(issuerFor(aborting, onNew.proxies[0] ?? { id: '' })).toBe('old');
    expect(phaseTrust(aborting)).toEqual(['ra', 'rb']);
    expect(trustFor(aborting, onNew.proxies[0] ?? { id: '' })).toEqual(['ra', 'rb']);
    expect(advanceRootRotation(aborting, onNew, 4)).toMatchObject({ advanced: false, gate: { waitingFor: ['p1'] } });
    expect(advanceRootRotation(aborting, { proxies: [], otherLeaves: [{ holder: 'agent:x', issuerFingerprint: 'ib', notAfter: 100 }] }, 50)).toMatchObject({
      advanced: false,
      gate: { waitingFor: ['agent:x'] },
    });

    const done = advanced(aborting, { proxies: [{ id: 'p1', trust: ['ra', 'rb'], leafIssuer: 'ia' }] }, 5);
    expect(done.aborted).toBe(true);
    expect(phaseTrust(done)).toEqual(['ra']);
    expect(advanceRootRotation(done, { proxies: [] }, 6)).toMatchObject({ advanced: false, gate: { reason: 'rotation aborted' } });
    expect(() => abortRootRotation(done, 7)).toThrow(/already aborted/);
  });

  it('from P0 ends at once; from P3 and P4 is refused', () => {
    const p0 = beginRootRotation(a, b, 0);
    expect(abortRootRotation(p0, 1)).toMatchObject({ aborted: true });
    let state = advanced(p0, { proxies: [] }, 1);
    state = advanced(state, { proxies: [] }, 2);
    state = advanced(state, { proxies: [] }, 3);
    expect(state.phase).toBe('P3_REMOVE_TRUST');
    expect(() => abortRootRotation(state, 4)).toThrow(RotationPhaseError);
    expect(() => abortRootRotation(state, 4)).toThrow(/cannot abort in P3_REMOVE_TRUST/);
  });

  it('a fenced proxy holds no gate', () => {
    const p1 = advanced(beginRootRotation(a, b, 0), { proxies: [] }, 1);
    const fleet: FleetView = { proxies: [{ id: 'dead', trust: ['ra'] }, { id: 'live', trust: ['ra', 'rb'] }] };
    expect(advanceRootRotation(p1, fleet, 2)).toMatchObject({ advanced: false, gate: { waitingFor: ['dead'] } });
    const fenced = fenceProxies(p1, ['dead']);
    expect(advanced(fenced, fleet, 3).phase).toBe('P2_SWITCH_ISSUER');
  });
});
