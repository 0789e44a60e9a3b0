import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { StateFeed } from '../../src/registry/state-feed.js';
import type { WatchEvent } from '../../src/registry/store.js';
import { flushMicrotasks, sampleWorkload } from './helpers.js';

function put(revision: number, id: string): WatchEvent & { type: 'change' } {
  return { type: 'change', revision, kind: 'workload', op: 'put', key: id, value: sampleWorkload({ id }) };
}

describe('StateFeed', () => {
  it('refuses changes that do not follow the current revision', () => {
    const feed = new StateFeed({ historyLimit: 10, logger: silentLogger() });
    feed.apply(put(1, 'a-1'));
    expect(() => feed.apply(put(3, 'b-1'))).toThrow(/does not follow revision 1/);
  });

  it('holds a watcher that is ahead until the feed catches up, without duplicates', async () => {
    const feed = new StateFeed({ historyLimit: 10, logger: silentLogger() });
    const seen: WatchEvent[] = [];
    feed.watch(2, (e) => seen.push(e));
    for (let r = 1; r <= 4; r++) feed.apply(put(r, `w-${r}`));
    await flushMicrotasks();
    expect(seen.map((e) => e.revision)).toEqual([3, 4]);
  });

  it('drops queued changes superseded by a resync', async () => {
    const feed = new StateFeed({ historyLimit: 10, logger: silentLogger() });
    const seen: WatchEvent[] = [];
    feed.watch(0, (e) => seen.push(e));
    feed.apply(put(1, 'old-1'));
    feed.reset({ revision: 9, workloads: [{ workload: sampleWorkload({ id: 'new-1' }), revision: 9 }], policies: { docs: [], revision: 0 }, kv: {} });
    feed.apply(put(10, 'after-1'));
    await flushMicrotasks();
    expect(seen.map((e) => `${e.type}@${e.revision}`)).toEqual(['resync@9', 'change@10']);
    expect(feed.listWorkloads().map((s) => s.workload.id)).toEqual(['new-1', 'after-1']);
  });

  it('freezes what it stores', () => {
    const feed = new StateFeed({ historyLimit: 10, logger: silentLogger() });
    const event = put(1, 'a-1');
    feed.apply(event);
    expect(Object.isFrozen(feed.getWorkload('a-1')?.workload.labels)).toBe(true);
  });
});
