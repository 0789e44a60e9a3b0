import { describe, expect, it } from 'vitest';
import { StreamAdmission, peerAddress, type AdmissionTicket } from '../../../src/xds/admission.js';

const LIMITS = { maxStreams: 10, maxPendingStreams: 6, maxStreamsPerPeer: 5, maxPendingStreamsPerPeer: 3, maxStreamsPerWorkload: 2 };

function ticket(admission: StreamAdmission, peer: string): AdmissionTicket {
  const result = admission.admit(peer);
  if (!('release' in result)) throw new Error(`refused: ${result.reason}`);
  return result;
}

describe('StreamAdmission', () => {
  it('takes the address out of every peer form grpc-js reports', () => {
    expect(peerAddress('127.0.0.1:40000')).toBe('127.0.0.1');
    expect(peerAddress('::1:40000')).toBe('::1');
    expect(peerAddress('[::1]:40000')).toBe('::1');
    expect(peerAddress('2001:db8::7:443')).toBe('2001:db8::7');
    expect(peerAddress('unix:/run/x.sock')).toBe('unix');
  });

  it('caps pending streams per peer, accepted ones per peer and per workload, and forgets peers and workloads with no streams', () => {
    const admission = new StreamAdmission(LIMITS);
    const pending = [ticket(admission, 'a'), ticket(admission, 'a'), ticket(admission, 'a')];
    expect(admission.admit('a')).toMatchObject({ reason: 'peer_pending_streams' });
    expect(pending[0]!.authenticated('w1')).toBeUndefined();
    expect(pending[1]!.authenticated('w1')).toBeUndefined();
    expect(pending[2]!.authenticated('w1')).toMatchObject({ reason: 'workload_streams' });
    pending[2]!.release();
    const more = [ticket(admission, 'a'), ticket(admission, 'a'), ticket(admission, 'a')];
    expect(admission.admit('a')).toMatchObject({ reason: 'peer_streams' });
    expect(ticket(admission, 'b').isPending).toBe(true);
    expect(admission.pendingStreams).toBe(4);
    for (const t of [...pending, ...more]) t.release();
    expect(admission.openStreams).toBe(1);
    expect(admission.pendingStreams).toBe(1);
    const internals = admission as unknown as { peers: Map<string, unknown>; workloads: Map<string, unknown> };
    expect([...internals.peers.keys()]).toEqual(['b']);
    expect(internals.workloads.size).toBe(0);
  });

  it('keeps its maps bounded by the open streams whatever peers and node ids come and go', () => {
    const admission = new StreamAdmission({ ...LIMITS, maxStreams: 100_000, maxPendingStreams: 100_000 });
    for (let i = 0; i < 10_000; i++) {
      const t = ticket(admission, `10.0.${i >> 8}.${i & 255}`);
      t.authenticated(`node-${i}-${Math.random()}`);
      t.release();
      t.release();
    }
    const internals = admission as unknown as { peers: Map<string, unknown>; workloads: Map<string, unknown> };
    expect(internals.peers.size).toBe(0);
    expect(internals.workloads.size).toBe(0);
    expect(admission.openStreams).toBe(0);
  });

  it('over the global pending cap, a stream waits its turn instead of being refused, first come first served', () => {
    const admission = new StreamAdmission(LIMITS);
    const started: string[] = [];
    const admitted = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8', 'p9'].map((peer) => {
      const t = ticket(admission, peer);
      t.whenStarted(() => started.push(peer));
      return t;
    });
    expect(started).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
    expect(admission.pendingStreams).toBe(6);
    expect(admission.queuedStreams).toBe(3);
    expect(admitted[6]!.isQueued).toBe(true);
    // A waiting stream cannot be accepted before its turn.
    expect(admitted[6]!.authenticated('w7')).toBeUndefined();
    expect(admitted[6]!.isPending).toBe(true);
    // One that gives up while waiting leaves the line; a finished setup lets the next one in.
    admitted[7]!.release();
    expect(admission.queuedStreams).toBe(2);
    expect(admitted[0]!.authenticated('w1')).toBeUndefined();
    expect(started).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7']);
    admitted[1]!.release();
    expect(started.at(-1)).toBe('p9');
    expect(admission.queuedStreams).toBe(0);
    expect(admission.pendingStreams).toBe(6);
    // Waiting streams still count against the total and the per-address caps.
    expect(admission.openStreams).toBe(7);
    for (const t of admitted) t.release();
    expect(admission.openStreams).toBe(0);
    expect(admission.pendingStreams).toBe(0);
    expect(admission.queuedStreams).toBe(0);
    const internals = admission as unknown as { peers: Map<string, unknown> };
    expect(internals.peers.size).toBe(0);
  });
});
