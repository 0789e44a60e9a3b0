import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCaKv } from '../../src/ca/kv.js';
import { DENIED_SHARDS, DENIED_TOKENS_KEY, TokenDenyList, deniedShardKey, deniedShardOf, type DenyListChange } from '../../src/identity/token-denylist.js';
import { silentLogger } from '../../src/observability/logger.js';
import { FakeClock, eventually } from '../registry/helpers.js';

/**
 * Issue #13: the deny-list was one JSON document every deregistration rewrote whole. It is now
 * DENIED_SHARDS keys; the old single key is still read, never written.
 */
const DAY = 24 * 3_600_000;

/** Ids that land in one shard (to force compare-and-set races), and one that lands elsewhere. */
function idsInOneShard(count: number, prefix: string): string[] {
  const shard = deniedShardOf(`${prefix}-0`);
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i += 1) if (deniedShardOf(`${prefix}-${i}`) === shard) ids.push(`${prefix}-${i}`);
  return ids;
}
function idInAnotherShard(than: string, prefix: string): string {
  for (let i = 0; ; i += 1) if (deniedShardOf(`${prefix}-${i}`) !== deniedShardOf(than)) return `${prefix}-${i}`;
}

async function versions(kv: MemoryCaKv): Promise<(number | undefined)[]> {
  return Promise.all([...Array.from({ length: DENIED_SHARDS }, (_, i) => deniedShardKey(i)), DENIED_TOKENS_KEY].map(async (key) => (await kv.kvGet(key))?.version));
}

describe('the sharded token deny-list', () => {
  const lists: TokenDenyList[] = [];
  afterEach(() => {
    for (const list of lists.splice(0)) list.stop();
  });

  const make = (kv: MemoryCaKv, clock: FakeClock, changes: DenyListChange[] = []): TokenDenyList => {
    const list = new TokenDenyList({ kv, logger: silentLogger(), now: () => clock.now(), clock, onChange: (change) => changes.push(change) });
    lists.push(list);
    return list;
  };

  it('an update writes its own shard only; the legacy key is never written', async () => {
    const clock = new FakeClock(Date.now());
    const kv = new MemoryCaKv();
    const list = make(kv, clock);
    await list.start();
    const first = 'orders-1';
    const second = idInAnotherShard(first, 'payments');
    await list.denyWorkload(first, clock.now(), clock.now() + DAY);
    const afterFirst = await versions(kv);
    expect(afterFirst.filter((v) => v !== undefined)).toEqual([1]);
    expect(afterFirst[deniedShardOf(first)]).toBe(1);

    await list.denyWorkload(second, clock.now(), clock.now() + DAY);
    const afterSecond = await versions(kv);
    expect(afterSecond[deniedShardOf(second)]).toBe(1);
    expect(afterSecond.map((v, i) => (i === deniedShardOf(second) ? afterFirst[i] : v))).toEqual(afterFirst);
    expect(afterSecond[DENIED_SHARDS]).toBeUndefined();

    await list.denyToken('jti-1', clock.now() + DAY);
    const afterToken = await versions(kv);
    expect(afterToken.map((v, i) => (i === deniedShardOf('jti-1') ? afterSecond[i] : v))).toEqual(afterSecond);
    expect(list.denial({ tokenId: 'jti-1', workloadId: 'other', issuedAt: clock.now() })).toMatch(/token "jti-1" is denied/);
    expect(list.denial({ tokenId: 'x', workloadId: first, issuedAt: clock.now() })).toMatch(/deregistered/);
    expect(list.denial({ tokenId: 'x', workloadId: second, issuedAt: clock.now() + 1 })).toBeUndefined();
  });

  it('entries of the legacy single-key document stay in force until they expire; expired ones are dropped', async () => {
    const clock = new FakeClock(Date.now());
    const now = clock.now();
    const kv = new MemoryCaKv();
    const legacy = {
      tokens: { 'old-jti': now + DAY, 'expired-jti': now - 1 },
      workloads: { 'old-workload': { before: now - 1_000, until: now + DAY }, 'expired-workload': { before: now - DAY, until: now - 1 } },
    };
    expect(await kv.kvPutIfVersion(DENIED_TOKENS_KEY, JSON.stringify(legacy), undefined)).toBe(true);
    const list = make(kv, clock);
    await list.start();
    expect(list.denial({ tokenId: 'old-jti', workloadId: 'w', issuedAt: now })).toMatch(/token "old-jti" is denied/);
    expect(list.denial({ tokenId: 'x', workloadId: 'old-workload', issuedAt: now - 2_000 })).toMatch(/deregistered/);
    expect(list.denial({ tokenId: 'x', workloadId: 'old-workload', issuedAt: now })).toBeUndefined();
    expect(list.denial({ tokenId: 'expired-jti', workloadId: 'w', issuedAt: now })).toBeUndefined();
    expect(list.denial({ tokenId: 'x', workloadId: 'expired-workload', issuedAt: now - 2 * DAY })).toBeUndefined();

    // Writing the same workload again goes to its shard; the legacy key is left as it was.
    await list.denyWorkload('old-workload', now, now + DAY);
    expect(list.denial({ tokenId: 'x', workloadId: 'old-workload', issuedAt: now })).toMatch(/deregistered/);
    expect(await kv.kvGet(DENIED_TOKENS_KEY)).toEqual({ value: JSON.stringify(legacy), version: 1 });

    // Another replica learns a legacy key written later (an older version still running) at its sync.
    const late = { tokens: { 'late-jti': now + DAY }, workloads: {} };
    expect(await kv.kvPutIfVersion(DENIED_TOKENS_KEY, JSON.stringify(late), 1)).toBe(true);
    clock.advance(1_000);
    await eventually(() => list.denial({ tokenId: 'late-jti', workloadId: 'w', issuedAt: now }) !== undefined, 2_000, 'the late legacy entry');
  });

  it('onChange lists exactly what became denied, on this replica and on another at its sync', async () => {
    const clock = new FakeClock(Date.now());
    const now = clock.now();
    const kv = new MemoryCaKv();
    expect(await kv.kvPutIfVersion(DENIED_TOKENS_KEY, JSON.stringify({ tokens: { 'legacy-jti': now + DAY }, workloads: {} }), undefined)).toBe(true);
    const seenByA: DenyListChange[] = [];
    const seenByB: DenyListChange[] = [];
    const a = make(kv, clock, seenByA);
    const b = make(kv, clock, seenByB);
    await a.start();
    await b.start();
    expect(seenByA).toEqual([]);
    expect(seenByB).toEqual([]);

    const [w1, w2] = idsInOneShard(2, 'orders');
    const w3 = idInAnotherShard(w1!, 'payments');
    await a.denyWorkload(w1!, now, now + DAY);
    await a.denyWorkload(w2!, now, now + DAY);
    await a.denyToken('jti-9', now + DAY);
    await a.denyWorkload(w3!, now, now + DAY);
    expect(seenByA).toEqual([
      { workloads: [w1], tokens: [] },
      { workloads: [w2], tokens: [] },
      { workloads: [], tokens: ['jti-9'] },
      { workloads: [w3], tokens: [] },
    ]);
    // Nothing newly denied: the same workload and cut-off again, a token the legacy key denies already.
    await a.denyWorkload(w1!, now, now + 2 * DAY);
    await a.denyToken('legacy-jti', now + 2 * DAY);
    expect(seenByA).toHaveLength(4);
    // More of a workload's tokens denied (a later cut-off) is news.
    await a.denyWorkload(w2!, now + 10, now + DAY);
    expect(seenByA.at(-1)).toEqual({ workloads: [w2], tokens: [] });

    // B learns all of it at one sync, as one change.
    expect(b.denial({ tokenId: 'x', workloadId: w1!, issuedAt: now })).toBeUndefined();
    clock.advance(1_000);
    await eventually(() => seenByB.length > 0, 2_000, 'the sync on B');
    expect(seenByB).toHaveLength(1);
    expect({ workloads: [...seenByB[0]!.workloads].sort(), tokens: seenByB[0]!.tokens }).toEqual({ workloads: [w1, w2, w3].sort(), tokens: ['jti-9'] });
    expect(b.denial({ tokenId: 'x', workloadId: w1!, issuedAt: now })).toMatch(/deregistered/);
    expect(b.denial({ tokenId: 'jti-9', workloadId: 'w', issuedAt: now })).toMatch(/denied/);

    // A sync with no new version reports nothing; B's own change is reported on B, and on A at its sync.
    clock.advance(1_000);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seenByB).toHaveLength(1);
    await b.denyToken('jti-b', now + DAY);
    expect(seenByB.at(-1)).toEqual({ workloads: [], tokens: ['jti-b'] });
    const aBefore = seenByA.length;
    clock.advance(1_000);
    await eventually(() => seenByA.length > aBefore, 2_000, 'the sync on A');
    expect(seenByA.slice(aBefore)).toEqual([{ workloads: [], tokens: ['jti-b'] }]);
  });

  it('a sync that read a shard before this replica wrote it does not roll the shard back', async () => {
    const clock = new FakeClock(Date.now());
    const now = clock.now();
    let holding = false;
    const held: (() => void)[] = [];
    const kv = new (class extends MemoryCaKv {
      override async kvGet(key: string): Promise<Awaited<ReturnType<MemoryCaKv['kvGet']>>> {
        const value = await super.kvGet(key);
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
        return value;
      }
    })();
    const seenByA: DenyListChange[] = [];
    const a = make(kv, clock, seenByA);
    const b = make(kv, clock);
    await a.start();
    const [w1, w2] = idsInOneShard(2, 'orders');
    await b.denyWorkload(w1!, now, now + DAY);

    // A's sync reads every shard (w1's at version 1) and is held; meanwhile A writes version 2.
    holding = true;
    clock.advance(1_000);
    await eventually(() => held.length === DENIED_SHARDS + 1, 2_000, "the sync's reads");
    holding = false;
    await a.denyWorkload(w2!, now, now + DAY);
    for (const resolve of held) resolve();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(a.denial({ tokenId: 'x', workloadId: w2!, issuedAt: now })).toMatch(/deregistered/);
    expect(seenByA).toEqual([{ workloads: [w1, w2], tokens: [] }]);
  });

  it('concurrent denials on two replicas in the same shard both land (compare-and-set retry)', async () => {
    let conflicts = 0;
    const kv = new (class extends MemoryCaKv {
      override async kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean> {
        const written = await super.kvPutIfVersion(key, value, expectedVersion);
        if (!written) conflicts += 1;
        return written;
      }
    })();
    const now = Date.now();
    const ids = idsInOneShard(20, 'svc');
    const mk = (): TokenDenyList => {
      // The real clock: the retry pauses must elapse.
      const list = new TokenDenyList({ kv, logger: silentLogger(), now: () => Date.now(), onChange: () => undefined });
      lists.push(list);
      return list;
    };
    const a = mk();
    const b = mk();
    await Promise.all(ids.map((id, i) => (i % 2 === 0 ? a : b).denyWorkload(id, now, now + DAY)));
    const stored = await kv.kvGet(deniedShardKey(deniedShardOf(ids[0]!)));
    expect(Object.keys((JSON.parse(stored!.value) as { workloads: Record<string, unknown> }).workloads).sort()).toEqual([...ids].sort());
    expect(stored!.version).toBe(ids.length);
    expect(conflicts).toBeGreaterThan(0);
    const c = mk();
    await c.start();
    for (const id of ids) expect(c.denial({ tokenId: 'x', workloadId: id, issuedAt: now })).toMatch(/deregistered/);
  });
});
