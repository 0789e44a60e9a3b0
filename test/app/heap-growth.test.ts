import { describe, expect, it } from 'vitest';
import { HeapGrowthGovernor, eventLoopIdle, fullCollection, heapGrowthGiven } from '../../src/app/heap-growth.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock } from '../registry/helpers.js';

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
});
