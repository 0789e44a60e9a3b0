import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HeapGrowthGovernor, eventLoopIdle, fullCollection, heapGrowthGiven } from '../../src/app/heap-growth.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from '../registry/helpers.js';

/** The built module (npm test builds first): the child process runs plain JavaScript. */
const HEAP_GROWTH_MODULE = pathToFileURL(path.resolve(import.meta.dirname, '../../dist/src/app/heap-growth.js')).href;

describe('heapGrowthGiven', () => {
  it("leaves an operator's own heap growth factor alone, from the command line or NODE_OPTIONS", () => {
    expect(heapGrowthGiven([], undefined)).toBe(false);
    expect(heapGrowthGiven(['--max-old-space-size=2048'], '--enable-source-maps')).toBe(false);
    expect(heapGrowthGiven(['--heap-growing-percent=50'], undefined)).toBe(true);
    expect(heapGrowthGiven([], '--enable-source-maps --heap_growing_percent=10')).toBe(true);
  });
});

/**
 * A governor on a fake clock recording what it does: `percents` set, `collections` (how many
 * percents had been set when each ran), and both as one `events` list. With `deferral`, its
 * collection waits for an idle check (`setIdle`), at most `maxCollectDelayMs`.
 */
function governorFixture(deferral?: { readonly maxCollectDelayMs: number }) {
  const clock = new FakeClock();
  const percents: number[] = [];
  const collections: number[] = [];
  const events: string[] = [];
  let settingUp = 0;
  let idle = false;
  const governor = new HeapGrowthGovernor({
    steadyPercent: 25,
    streamsSettingUp: () => settingUp,
    stormStreams: 64,
    quietMs: 5_000,
    checkMs: 1_000,
    setPercent: (percent) => {
      percents.push(percent);
      events.push(`percent ${percent}`);
    },
    collect: () => {
      collections.push(percents.length);
      events.push('collect');
    },
    ...(deferral ? { idle: () => idle, maxCollectDelayMs: deferral.maxCollectDelayMs } : {}),
    clock,
    logger: silentLogger(),
  });
  return { clock, percents, collections, events, governor, setSettingUp: (n: number) => (settingUp = n), setIdle: (value: boolean) => (idle = value) };
}

describe('HeapGrowthGovernor', () => {
  const setup = () => governorFixture();

  it('starts with V8 heuristics (a new process is about to serve its fleet) and caps growth once no storm has been seen for the quiet period', () => {
    const { clock, percents, governor } = setup();
    governor.start();
    expect(percents).toEqual([0]);
    clock.advance(4_000);
    expect(governor.isCapped).toBe(false);
    clock.advance(1_000);
    expect(governor.isCapped).toBe(true);
    expect(percents).toEqual([0, 25]);
    clock.advance(60_000);
    expect(percents).toEqual([0, 25]);
    governor.stop();
  });

  it('lifts the cap while many streams are being set up, and restores it only after a full quiet period', () => {
    const { clock, percents, collections, governor, setSettingUp } = setup();
    governor.start();
    clock.advance(5_000);
    expect(governor.isCapped).toBe(true);
    setSettingUp(63);
    clock.advance(3_000);
    expect(governor.isCapped).toBe(true);
    setSettingUp(2_000);
    clock.advance(1_000);
    expect(governor.isCapped).toBe(false);
    setSettingUp(10);
    clock.advance(3_000);
    // A second wave inside the quiet period starts it again.
    setSettingUp(500);
    clock.advance(1_000);
    setSettingUp(0);
    // The quiet period counts from the first check that sees no storm, one check after the last storm.
    clock.advance(5_000);
    expect(governor.isCapped).toBe(false);
    clock.advance(1_000);
    expect(governor.isCapped).toBe(true);
    expect(percents).toEqual([0, 25, 0, 25]);
    // One full collection each time the cap comes back, after it is set: never while uncapped.
    expect(collections).toEqual([2, 4]);
    governor.stop();
    expect(clock.pendingCount).toBe(0);
  });
});

describe('HeapGrowthGovernor: the collection waits for an idle moment', () => {
  const setup = () => governorFixture({ maxCollectDelayMs: 30_000 });

  it('caps growth on time, and runs the stop-the-world collection only once a check finds the process idle', () => {
    const { clock, events, governor, setIdle } = setup();
    governor.start();
    clock.advance(5_000);
    expect(governor.isCapped).toBe(true);
    expect(events).toEqual(['percent 0', 'percent 25']);
    // Busy (a push in progress): no collection yet.
    clock.advance(10_000);
    expect(events).toEqual(['percent 0', 'percent 25']);
    setIdle(true);
    clock.advance(1_000);
    expect(events).toEqual(['percent 0', 'percent 25', 'collect']);
    // Once per storm.
    clock.advance(60_000);
    expect(events).toEqual(['percent 0', 'percent 25', 'collect']);
    governor.stop();
  });

  it('collects anyway once it has waited the longest delay (constant churn may never look idle)', () => {
    const { clock, events, governor } = setup();
    governor.start();
    clock.advance(5_000);
    clock.advance(29_000);
    expect(events).toEqual(['percent 0', 'percent 25']);
    clock.advance(1_000);
    expect(events).toEqual(['percent 0', 'percent 25', 'collect']);
    governor.stop();
  });

  it('drops a pending collection when a new storm lifts the cap, and owes one again when the cap comes back', () => {
    const { clock, events, governor, setSettingUp, setIdle } = setup();
    governor.start();
    clock.advance(5_000);
    setSettingUp(1_000);
    clock.advance(1_000);
    expect(governor.isCapped).toBe(false);
    setIdle(true);
    clock.advance(3_000);
    // Uncapped: nothing to apply, so nothing collected.
    expect(events).toEqual(['percent 0', 'percent 25', 'percent 0']);
    setSettingUp(0);
    clock.advance(6_000);
    expect(events).toEqual(['percent 0', 'percent 25', 'percent 0', 'percent 25', 'collect']);
    governor.stop();
    expect(clock.pendingCount).toBe(0);
  });
});

describe('eventLoopIdle', () => {
  it('is false after the loop was kept busy since the previous call, true after it waited', async () => {
    const idle = eventLoopIdle(0.5);
    const spinUntil = performance.now() + 150;
    while (performance.now() < spinUntil) {
      // busy
    }
    expect(idle()).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(idle()).toBe(true);
  });
});

describe('fullCollection', () => {
  it('runs a real full collection: an unreachable object is gone after it', async () => {
    const collect = fullCollection();
    const ref = new WeakRef({ big: new Array(1000).fill(0) });
    // A WeakRef target survives until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    collect();
    expect(ref.deref()).toBeUndefined();
  });

  it('compacts the old generation in that one collection, and leaves V8 not compacting on its own afterwards', () => {
    // In a process of its own, so this suite's heap does not blur the figures: a heap left three
    // quarters empty in scattered holes (as a reconnect storm leaves it), collected once by
    // fullCollection, then fragmented again and collected by a plain gc().
    const script = `
      import v8 from 'node:v8';
      import { fullCollection } from ${JSON.stringify(HEAP_GROWTH_MODULE)};
      const collect = fullCollection();
      const plainGc = globalThis.gc;
      const fragment = () => {
        let keep = [];
        for (let i = 0; i < 600000; i++) keep.push({ a: i, b: 'x' + i, c: [i] });
        return keep.filter((_, i) => i % 4 === 0);
      };
      const totalMb = () => v8.getHeapStatistics().total_heap_size / 1048576;
      let held = fragment();
      const before = totalMb();
      collect();
      const compacted = totalMb();
      held = held.concat(fragment());
      const beforePlain = totalMb();
      plainGc();
      const plain = totalMb();
      console.log(JSON.stringify({ before, compacted, beforePlain, plain, kept: held.length }));
    `;
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).toBe('');
    const figures = JSON.parse(run.stdout) as { before: number; compacted: number; beforePlain: number; plain: number };
    // Compaction gives back most of the emptied pages; a plain collection frees the objects but keeps the pages.
    expect(figures.compacted).toBeLessThan(figures.before * 0.6);
    expect(figures.plain).toBeGreaterThan(figures.beforePlain * 0.7);
  }, 90_000);
});
