import { afterEach, describe, expect, it } from 'vitest';
import { LivenessMonitor } from '../../src/app/liveness.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

describe('liveness (/healthz)', () => {
  let monitor: LivenessMonitor | undefined;
  afterEach(() => monitor?.stop());

  it('fails when the store client has not settled a call for longer than the limit, and recovers when it does', () => {
    let now = 1_000_000;
    const store: { settledAt?: number } = {};
    monitor = new LivenessMonitor({ now: () => now, storeCallSettledAt: () => store.settledAt, storeStallMs: 30_000, eventLoopStallMs: 10_000 });
    monitor.start();
    expect(monitor.status().live).toBe(true); // just started, nothing called yet
    now += 30_001;
    expect(monitor.status()).toMatchObject({ live: false, checks: { store: { ok: false, detail: { lastCallSettledMsAgo: 30_001 } } } });
    store.settledAt = now - 1000;
    expect(monitor.status()).toMatchObject({ live: true, checks: { store: { ok: true } } });
  });

  it('fails when the event loop stalled longer than the limit', async () => {
    monitor = new LivenessMonitor({ now: () => Date.now(), storeCallSettledAt: () => Date.now(), storeStallMs: 30_000, eventLoopStallMs: 100 });
    monitor.start();
    await new Promise((resolve) => setTimeout(resolve, 100));
    const busyUntil = Date.now() + 400;
    while (Date.now() < busyUntil) {
      // a synchronous stall of the event loop
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    const status = monitor.status();
    expect(status.live).toBe(false);
    expect(status.checks.eventLoop.ok).toBe(false);
    expect(status.checks.eventLoop.detail.maxDelayMs).toBeGreaterThan(100);
  });

  describe('served by accord serve', () => {
    let accord: TestAccord;
    afterEach(async () => accord?.close());

    it('reports its checks, with the store calls the lease reaper makes every second', async () => {
      accord = await startTestAccord();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const response = await api(accord, 'GET', '/healthz', { token: null });
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'ok', checks: { eventLoop: { ok: true }, store: { ok: true } } });
      const body = response.body as { checks: { store: { detail: { lastCallSettledMsAgo: number } } } };
      expect(body.checks.store.detail.lastCallSettledMsAgo).toBeLessThan(30_000);
    });
  });
});
