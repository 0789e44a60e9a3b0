// Issue #9 item 2: a CSDS node_matchers safe_regex was compiled with JavaScript's backtracking
// RegExp; `.{3}(.*.*)*x` against a node id froze the event loop (22 s, /healthz included).
// RE2 semantics are linear in the node id, patterns are capped, and bad ones are INVALID_ARGUMENT.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ack } from '../../support/ads-client.js';
import { node, TypeUrl, useHarness } from '../../support/conformance.js';

const EVIL = '.{3}(.*.*)*x';
/** How long the event loop may stall in the test: generous, since other suites share the CPUs. */
const MAX_STALL_MS = 5_000;

/** Runs `work` while a 20 ms interval timer ticks; resolves with the result and the longest gap between ticks. */
async function withTimerWatch<T>(work: () => Promise<T>): Promise<{ result: T; longestGapMs: number }> {
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 20);
  try {
    const result = await work();
    await new Promise((resolve) => setTimeout(resolve, 100));
    longest = Math.max(longest, performance.now() - last);
    return { result, longestGapMs: longest };
  } finally {
    clearInterval(timer);
  }
}

describe('CSDS node_matchers safe_regex (RE2)', () => {
  const h = useHarness();

  async function connect(id: string): Promise<void> {
    h().set(id, TypeUrl.Cluster, [h().make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node(id), type_url: TypeUrl.Cluster, resource_names: [] });
    ack(s, await s.next());
  }

  it(`"${EVIL}" against backtracking-prone and long node ids answers promptly while timers keep firing`, async () => {
    // 20 characters already stall a backtracking engine for minutes; 1,000 is near the node.id cap.
    for (const id of ['a'.repeat(20), 'b'.repeat(1000)]) {
      await connect(id);
      const started = performance.now();
      const { result, longestGapMs } = await withTimerWatch(() =>
        h().client().fetchClientStatus({ node_matchers: [{ node_id: { safe_regex: { regex: EVIL } } }] }, 20_000),
      );
      const elapsed = performance.now() - started;
      expect(longestGapMs, `event loop stalled ${Math.round(longestGapMs)} ms for a ${id.length}-character node id`).toBeLessThan(MAX_STALL_MS);
      expect(elapsed).toBeLessThan(10_000);
      expect(result.config).toEqual([]);
    }
  });

  it('RE2 matches the whole node id, as Envoy does', async () => {
    await connect('web-1');
    await connect('web-12');
    const ids = async (regex: string) =>
      (await h().client().fetchClientStatus({ node_matchers: [{ node_id: { safe_regex: { regex } } }] })).config.map((c) => (c.node as { id: string }).id).sort();
    expect(await ids('web-\\d')).toEqual(['web-1']);
    expect(await ids('web-\\d+')).toEqual(['web-1', 'web-12']);
    expect(await ids('eb-1')).toEqual([]);
  });

  it('an invalid or over-long pattern is INVALID_ARGUMENT naming the field; the server stays up', async () => {
    await connect('web-1');
    for (const [regex, why] of [
      ['(unclosed', 'not a valid RE2 pattern'],
      ['(?<=lookbehind)x', 'not a valid RE2 pattern'],
      ['a'.repeat(1025), 'exceed the limit'],
    ] as const) {
      const error = await h()
        .client()
        .fetchClientStatus({ node_matchers: [{ node_id: { exact: 'x' } }, { node_id: { safe_regex: { regex } } }] })
        .then(() => undefined, (e: grpc.ServiceError) => e);
      expect(error && grpc.status[error.code]).toBe('INVALID_ARGUMENT');
      expect(error?.details).toContain('node_matchers[1].node_id.safe_regex.regex');
      expect(error?.details).toContain(why);
      expect(error?.details.length).toBeLessThan(700);
    }
    const stream = h().client().csdsStream();
    stream.send({ node_matchers: [{ node_id: { safe_regex: { regex: '(' } } }] });
    const end = await stream.ended();
    expect(grpc.status[end.code]).toBe('INVALID_ARGUMENT');
    expect((await h().client().fetchClientStatus({ node_matchers: [{ node_id: { exact: 'web-1' } }] })).config).toHaveLength(1);
  });
});
