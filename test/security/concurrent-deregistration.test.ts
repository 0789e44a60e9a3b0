import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, deletePrefix } from '../registry/redis-helpers.js';
import { call, register, startIn, tempDir, type Running } from './support.js';

/**
 * Deregistering puts every token of the workload on the one shared deny-list key. The fleet
 * benchmark's churn (≈ 9 deletions at once) once answered HTTP 500: concurrent updates on one
 * replica raced each other on that key until the compare-and-set gave up.
 */
const prefix = `accord-dereg-${randomBytes(4).toString('hex')}`;
const MODES: { name: string; flags: Record<string, string>; env: Record<string, string> }[] = [
  { name: 'memory store, data-dir CA', flags: {}, env: {} },
  { name: 'Redis store', flags: { redis: REDIS_URL, redisPrefix: prefix }, env: { ACCORD_CA_KEK: randomBytes(32).toString('hex') } },
];

describe.each(MODES)('concurrent deregistrations ($name)', ({ flags, env }) => {
  const running: Running[] = [];
  const dirs: { remove(): Promise<void> }[] = [];
  afterAll(async () => {
    for (const accord of running) await accord.close().catch(() => undefined);
    for (const dir of dirs) await dir.remove();
    await deletePrefix(`{${prefix}}:`);
  });

  it('40 deletions at once all succeed, and every deregistered workload is denied', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const accord = await startIn(dir.dir, flags, env);
    running.push(accord);
    const workloads = await Promise.all(Array.from({ length: 40 }, (_, i) => register(accord.http, `svc-${i % 8}`, 9000 + i)));
    const answers = await Promise.all(workloads.map((w) => call(accord.http, 'DELETE', `/v1/workloads/${w.id}`)));
    const statuses = answers.map((a) => a.status);
    console.log(`40 concurrent deregistrations: ${JSON.stringify(Object.fromEntries([...new Set(statuses)].map((s) => [s, statuses.filter((x) => x === s).length])))}`);
    expect(statuses.filter((s) => s >= 300)).toEqual([]);
    const renewals = await Promise.all(workloads.map((w) => call(accord.http, 'POST', '/v1/agent/token', { body: {}, token: w.token })));
    expect(renewals.map((r) => r.status).filter((s) => s < 400)).toEqual([]);
  });
});
