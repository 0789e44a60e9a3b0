/**
 * Per-namespace registration tokens (docs/decisions/0017-namespace-registration-tokens.md): a
 * workload's deployment registers, deregisters and bootstraps in its own namespace without the
 * operator token, and can do nothing else.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, CLI, waitFor } from './processes.js';

const TEAM_A = 'team-a-registration-token-0001';
const TEAM_B = 'team-b-registration-token-0002';

describe('namespace registration tokens', () => {
  let dir: string;
  let file: string;
  let accord: AccordProcess;

  const call = async (token: string, method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> => {
    const response = await fetch(`${accord.http}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-regtokens-'));
    file = path.join(dir, 'registration-tokens');
    await writeFile(file, `# <namespace> <token>\nteam-a ${TEAM_A}\nteam-b ${TEAM_B}\n`, { mode: 0o600 });
    accord = await AccordProcess.start([], { ACCORD_REGISTRATION_TOKEN_FILE: file });
  }, 60_000);

  afterAll(async () => {
    await accord?.stop();
  });

  it('registers, bootstraps and deregisters in its own namespace', async () => {
    const created = await call(TEAM_A, 'POST', '/v1/workloads', { service: 'orders', namespace: 'team-a', address: '10.1.0.1', port: 8080 });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    expect(created.body.spiffeId).toMatch(/^spiffe:\/\/[^/]+\/ns\/team-a\/sa\/orders$/);
    const bootstrap = await fetch(`${accord.http}/v1/workloads/${id}/bootstrap`, { headers: { authorization: `Bearer ${TEAM_A}` } });
    expect(bootstrap.status).toBe(200);
    expect(await bootstrap.text()).toContain(id);
    expect((await call(TEAM_A, 'PUT', `/v1/workloads/${id}/heartbeat`)).status).toBe(204);
    expect((await call(TEAM_A, 'DELETE', `/v1/workloads/${id}`)).status).toBe(204);
  });

  it("a namespace-A token cannot register into B, read B's bootstraps, deregister B's workloads or do anything else", async () => {
    const theirs = await call(TEAM_B, 'POST', '/v1/workloads', { service: 'payments', namespace: 'team-b', address: '10.2.0.1', port: 8443 });
    expect(theirs.status).toBe(201);
    const theirId = theirs.body.id as string;

    expect((await call(TEAM_A, 'POST', '/v1/workloads', { service: 'payments', namespace: 'team-b', address: '10.2.0.9', port: 8443 })).status).toBe(403);
    // No namespace means "default": not team-a's either.
    expect((await call(TEAM_A, 'POST', '/v1/workloads', { service: 'payments', address: '10.2.0.9', port: 8443 })).status).toBe(403);
    const bootstrap = await fetch(`${accord.http}/v1/workloads/${theirId}/bootstrap`, { headers: { authorization: `Bearer ${TEAM_A}` } });
    expect(bootstrap.status).toBe(403);
    // No bootstrap, hence no workload token of theirs, in the answer.
    expect(await bootstrap.text()).not.toMatch(/eyJ|xds_servers|static_resources/);
    expect((await call(TEAM_A, 'DELETE', `/v1/workloads/${theirId}`)).status).toBe(403);
    expect((await call(TEAM_A, 'PUT', `/v1/workloads/${theirId}/heartbeat`)).status).toBe(403);
    // An unknown id is refused the same way: no hint whether it exists.
    expect((await call(TEAM_A, 'GET', '/v1/workloads/payments-nonexistent/bootstrap')).status).toBe(403);
    // Nothing beyond registration: no listing, no policies, no CA.
    expect((await call(TEAM_A, 'GET', '/v1/workloads')).status).toBe(403);
    expect((await call(TEAM_A, 'PUT', '/v1/policies', { policies: [] })).status).toBe(403);
    expect((await call(TEAM_A, 'POST', '/v1/ca/rotate', {})).status).toBe(403);
    // B's workload is untouched, and the denials are logged with why.
    const listed = (await accord.request('GET', '/v1/workloads')).body as { workloads: { id: string }[] };
    expect(listed.workloads.map((w) => w.id)).toContain(theirId);
    expect(accord.output.join('')).toContain('registration token of namespace \\"team-a\\" used outside it');
    expect(accord.output.join('')).not.toContain(TEAM_A);
  });

  it('a new registration token (from `accord token create`) is accepted without a restart; a removed one is refused', async () => {
    const line = execFileSync(process.execPath, [CLI, 'token', 'create', '--namespace', 'team-a'], { encoding: 'utf8' }).trim();
    const [namespace, TEAM_A_NEXT] = line.split(' ') as [string, string];
    expect(namespace).toBe('team-a');
    expect(TEAM_A_NEXT).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const next = path.join(dir, '.next');
    await writeFile(next, `${line}\nteam-b ${TEAM_B}\n`, { mode: 0o600 });
    await rename(next, file);
    const body = { service: 'billing', namespace: 'team-a', address: '10.1.0.2', port: 8080 };
    await waitFor(async () => ((await call(TEAM_A_NEXT, 'POST', '/v1/workloads', body)).status === 201 ? true : undefined), 20_000, 'the new token');
    expect((await call(TEAM_A, 'POST', '/v1/workloads', body)).status).toBe(403);
  });
});
