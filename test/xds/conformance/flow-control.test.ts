// Flow control: a client that stops reading later gets the latest state, not a backlog, and
// does not hold up other streams.
import { describe, expect, it } from 'vitest';
import { ack, type DeltaDiscoveryResponse, type DiscoveryResponse } from '../../support/ads-client.js';
import { node, sleep, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;
// grpc-js buffers up to 16 messages in a paused stream before HTTP/2 flow control pushes back,
// so a correct server still delivers ~18 queued responses; a backlog would be all of them.
const UPDATES = 80;
// Large enough that each response fills an HTTP/2 flow-control window.
const PADDING = 256 * 1024;

function portOf(decoded: Record<string, unknown>): number {
  const match = /"port_value":(\d+)/.exec(JSON.stringify(decoded));
  if (!match) throw new Error('no port in ClusterLoadAssignment');
  return Number(match[1]);
}

describe('flow control', () => {
  const h = useHarness();

  it('SotW: a paused client gets only the latest state after resuming, not every update', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1, { paddingBytes: PADDING })]);
    const slow = h().client().sotw();
    slow.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    ack(slow, await slow.next());
    const fast = h().client().sotw();
    fast.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    let fastLatest = await fast.next();
    ack(fast, fastLatest);

    slow.pause();
    for (let i = 2; i <= UPDATES + 1; i++) {
      h().set('n1', T.ClusterLoadAssignment, [make.cla('a', i, { paddingBytes: PADDING })]);
      // The reading client keeps up the whole time.
      fastLatest = await fast.next(5000);
      ack(fast, fastLatest);
      await sleep(5);
    }
    expect(portOf(codec.decodeAny(fastLatest.resources[0]))).toBe(UPDATES + 1);

    slow.resume();
    const got: DiscoveryResponse[] = [];
    for (;;) {
      const res = await slow.next(1500).catch(() => undefined);
      if (!res) break;
      got.push(res);
      if (portOf(codec.decodeAny(res.resources[0])) === UPDATES + 1) break;
    }
    const last = got.at(-1);
    expect(last && portOf(codec.decodeAny(last.resources[0]))).toBe(UPDATES + 1);
    // Only what was already in flight when the client stopped reading, plus the latest.
    expect(got.length).toBeLessThan(UPDATES / 2);
  });

  it('Delta: a paused client gets only the latest state after resuming, not every update', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1, { paddingBytes: PADDING })]);
    const slow = h().client().delta();
    slow.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await slow.next();
    slow.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce });

    slow.pause();
    for (let i = 2; i <= UPDATES + 1; i++) {
      h().set('n1', T.ClusterLoadAssignment, [make.cla('a', i, { paddingBytes: PADDING })]);
      await sleep(5);
    }
    slow.resume();
    const portIn = (res: DeltaDiscoveryResponse): number | undefined => {
      const any = res.resources[0]?.resource;
      return any ? portOf(codec.decodeAny(any)) : undefined;
    };
    const got: DeltaDiscoveryResponse[] = [];
    for (;;) {
      const res = await slow.next(1500).catch(() => undefined);
      if (!res) break;
      got.push(res);
      slow.send({ type_url: T.ClusterLoadAssignment, response_nonce: res.nonce });
      if (portIn(res) === UPDATES + 1) break;
    }
    const last = got.at(-1);
    expect(last && portIn(last)).toBe(UPDATES + 1);
    expect(got.length).toBeLessThan(UPDATES / 2);
  });
});
