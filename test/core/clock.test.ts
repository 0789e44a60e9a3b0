import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_DELAY_MS, realClock, repeat, repeatAsync, sleep } from '../../src/core/clock.js';
import { api, startTestAccord } from '../app/harness.js';

const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('the real clock', () => {
  it('waits past the 32-bit timer limit instead of firing at once', async () => {
    let fired = 0;
    const long = realClock.setTimeout(() => (fired += 1), MAX_TIMER_DELAY_MS + 86_400_000);
    const short = new Promise<void>((resolve) => realClock.setTimeout(resolve, 20));
    await short;
    await wait(200);
    realClock.clearTimeout(long);
    expect(fired).toBe(0);
  });

  it('repeat() calls back every period until stopped; sleep() resolves after its delay', async () => {
    let ticks = 0;
    const stop = repeat(realClock, 10, () => (ticks += 1));
    const deadline = Date.now() + 10_000;
    while (ticks < 3 && Date.now() < deadline) await wait(10);
    stop();
    const stoppedAt = ticks;
    expect(stoppedAt).toBeGreaterThanOrEqual(3);
    const before = Date.now();
    await sleep(realClock, 100);
    expect(Date.now() - before).toBeGreaterThanOrEqual(95);
    expect(ticks).toBe(stoppedAt);
  });

  it('fires due timers and cancels cleared ones', async () => {
    const calls: string[] = [];
    const cancelled = realClock.setTimeout(() => calls.push('cancelled'), 30);
    realClock.setTimeout(() => calls.push('due'), 10);
    realClock.clearTimeout(cancelled);
    realClock.clearTimeout(undefined);
    await wait(150);
    expect(calls).toEqual(['due']);
  });
});

describe('certificates that outlive the timer limit (issue: 2,156 server certificates in 3 s)', () => {
  it('issues the xDS server certificate once when its rotation is due after ~27 days', async () => {
    const config = await mkdtemp(path.join(tmpdir(), 'accord-long-ttl-'));
    await writeFile(
      path.join(config, 'mesh.yaml'),
      'apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\nspec:\n  trustDomain: mesh.local\n  certificates: { ttl: 720h, rotateAt: 0.95, jitter: 0 }\n',
    );
    const accord = await startTestAccord({ xdsTls: true, config });
    try {
      // The first certificate predates the policy; a root rotation re-issues it under the 720h TTL.
      expect((await api(accord, 'POST', '/v1/ca/rotate', { body: {} })).status).toBe(200);
      const deadline = Date.now() + 60_000;
      let phase = '';
      while (phase !== 'P4_RETIRED' && Date.now() < deadline) {
        phase = ((await api(accord, 'GET', '/v1/ca')).body as { rootRotation: { phase: string } }).rootRotation.phase;
        await wait(100);
      }
      expect(phase).toBe('P4_RETIRED');
      const issued = (): string[] => accord.logs.filter((line) => line.includes('control-plane server certificate issued'));
      const afterRotation = issued().length;
      await wait(3_000);
      const lastTtlDays = (Date.parse((JSON.parse(issued().at(-1) ?? '{}') as { notAfter?: string }).notAfter ?? '') - Date.now()) / 86_400_000;
      console.log(`server certificates: ${afterRotation} until the rotation finished (last one valid ${lastTtlDays.toFixed(1)} days), ${issued().length - afterRotation} in the 3 s after`);
      expect(lastTtlDays).toBeGreaterThan(25);
      expect(issued().length - afterRotation).toBe(0);
    } finally {
      await accord.close();
      await rm(config, { recursive: true, force: true });
    }
  });
});

describe('repeatAsync', () => {
  it('runs the task after the previous run settled, survives failures, and stops', async () => {
    let runs = 0;
    let concurrent = 0;
    let maxConcurrent = 0;
    const errors: unknown[] = [];
    const stop = repeatAsync(
      realClock,
      5,
      async () => {
        runs += 1;
        concurrent += 1;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await wait(20);
        concurrent -= 1;
        if (runs === 2) throw new Error('second run fails');
      },
      (error) => errors.push(error),
    );
    await wait(300);
    stop();
    const atStop = runs;
    await wait(100);
    expect(atStop).toBeGreaterThanOrEqual(3);
    expect(runs - atStop).toBeLessThanOrEqual(1);
    expect(maxConcurrent).toBe(1);
    expect(errors.map((e) => (e as Error).message)).toEqual(['second run fails']);
  });
});
