import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/registry/memory-store.js';
import { silentLogger } from '../../src/observability/logger.js';
import { describeStoreConformance } from './store-conformance.js';
import { EventRecorder, sampleWorkload } from './helpers.js';

describeStoreConformance('memory', async () => {
  const store = new MemoryStore({ logger: silentLogger() });
  return { store, cleanup: () => store.close() };
});

describe('MemoryStore history', () => {
  it('resyncs a watcher whose revision fell out of the history', async () => {
    const store = new MemoryStore({ logger: silentLogger(), historyLimit: 3 });
    for (let i = 0; i < 10; i++) await store.putWorkload(sampleWorkload({ id: `w-${i}` }));
    const recorder = new EventRecorder(store, 1);
    await recorder.reach(10);
    expect(recorder.resyncs()).toHaveLength(1);
    expect(recorder.workloads.size).toBe(10);
    const replay = new EventRecorder(store, 8);
    await replay.reach(10);
    expect(replay.resyncs()).toHaveLength(0);
    expect(replay.changes().map((e) => e.revision)).toEqual([9, 10]);
    await store.close();
  });
});
