/**
 * A workload that went missing (its lease reaped while nothing renewed it) is registered again by
 * its agent with the workload token: same id, same identity, same upstreams. A token cannot
 * register another endpoint, and a deregistered workload cannot come back this way.
 */
import type { ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, freePort, waitFor } from './processes.js';
import { startAgent } from './children.js';

interface Listed {
  id: string;
  upstreams: unknown[];
  leaseMs?: number;
  serviceAccount: string;
}

describe('self re-registration with the workload token', () => {
  let accord: AccordProcess;
  const agents: ChildProcess[] = [];

  beforeAll(async () => {
    // No reconnect window: a lease is reaped one full lease after start-up if nothing renews it.
    accord = await AccordProcess.start(['--lease-reconnect-window', '0s']);
  }, 60_000);

  afterAll(async () => {
    for (const agent of agents) agent.kill('SIGKILL');
    await accord?.stop();
  });

  const listed = async (): Promise<Listed[]> => ((await accord.request('GET', '/v1/workloads')).body as { workloads: Listed[] }).workloads;
  const selfRegister = async (token: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(`${accord.http}/v1/agent/register`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('the agent registers its reaped workload again: same id, SPIFFE ID and upstreams', async () => {
    const registration = { service: 'payments', address: '127.0.0.1', port: await freePort(), protocol: 'grpc', ttl: '3s', upstreams: [{ service: 'ledger', localPort: 9100 }] };
    const created = (await accord.request('POST', '/v1/workloads', registration)).body as { id: string; spiffeId: string; token: string };
    const before = (await listed()).find((w) => w.id === created.id);
    expect(before).toBeDefined();
    // The agent alone renews nothing (no proxy streams through it): the lease runs out.
    const agent = await startAgent(created.token, [accord.http], [accord.xds]);
    agents.push(agent.child);
    const startedAt = Date.now();

    const reaped = (line: string): boolean => line.includes('workload leases expired') && line.includes(created.id);
    await waitFor(async () => (accord.output.join('').split('\n').some(reaped) ? true : undefined), 30_000, 'the lease to be reaped');
    await waitFor(
      async () => (accord.output.join('').includes('workload was missing and registered itself again with its token') ? true : undefined),
      30_000,
      'the agent to register the workload again',
    );
    const back = await waitFor(async () => (await listed()).find((w) => w.id === created.id), 10_000, 'the workload in the registry again');
    expect(back).toEqual(before);
    // The same registration with the same token now changes nothing, and names the same identity.
    const again = await selfRegister(created.token, registration);
    expect(again.status).toBe(200);
    expect(again.body).toEqual({ id: created.id, spiffeId: created.spiffeId, created: false });
    expect(agent.output.join('')).toContain('registered it again with its token');
    console.log(JSON.stringify({ workload: created.id, reRegisteredWithinMs: Date.now() - startedAt }));
  }, 90_000);

  it('an agent restarted while its workload is missing brings it back from its saved registration', async () => {
    const registration = { service: 'ledger', address: '127.0.0.1', port: await freePort(), ttl: '3s', labels: { tier: 'back' } };
    const created = (await accord.request('POST', '/v1/workloads', registration)).body as { id: string; spiffeId: string; token: string };
    const before = (await listed()).find((w) => w.id === created.id);
    const first = await startAgent(created.token, [accord.http], [accord.xds]);
    expect(JSON.parse(await readFile(path.join(first.dir, 'registration.json'), 'utf8'))).toMatchObject({ service: 'ledger', port: registration.port, ttl: '3000ms' });
    first.child.kill('SIGKILL');
    // With no agent at all, the reaped workload stays gone.
    await waitFor(async () => ((await listed()).some((w) => w.id === created.id) ? undefined : true), 30_000, 'the lease to be reaped');
    const second = await startAgent(created.token, [accord.http], [accord.xds], first.dir);
    agents.push(second.child);
    const back = await waitFor(async () => (await listed()).find((w) => w.id === created.id), 30_000, 'the restarted agent to register the workload again');
    expect(back).toEqual(before);
  }, 90_000);

  it('a workload token cannot register another endpoint or another identity', async () => {
    const own = { service: 'orders', address: '127.0.0.1', port: await freePort() };
    const created = (await accord.request('POST', '/v1/workloads', own)).body as { id: string; token: string };
    const otherPort = await selfRegister(created.token, { ...own, port: own.port + 1 });
    expect(otherPort.status).toBe(403);
    const otherService = await selfRegister(created.token, { ...own, service: 'payments' });
    expect(otherService.status).toBe(403);
    const otherIdentity = await selfRegister(created.token, { ...own, serviceAccount: 'admin' });
    expect(otherIdentity.status).toBe(403);
    expect((await listed()).filter((w) => w.serviceAccount === 'admin')).toEqual([]);
    expect(await selfRegister('not-a-token', own)).toMatchObject({ status: 401 });
  });

  it('a deregistered workload cannot register itself again: its tokens are denied', async () => {
    const own = { service: 'inventory', address: '127.0.0.1', port: await freePort() };
    const created = (await accord.request('POST', '/v1/workloads', own)).body as { id: string; token: string };
    expect((await accord.request('DELETE', `/v1/workloads/${created.id}`)).status).toBe(204);
    const refused = await selfRegister(created.token, own);
    expect([401, 403]).toContain(refused.status);
    expect((await listed()).some((w) => w.id === created.id)).toBe(false);
  });
});
