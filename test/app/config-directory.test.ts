import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestAccord, type TestAccord } from './harness.js';

const policy = (timeout: string): string => `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments, namespace: default }
spec:
  target: payments
  requestTimeout: ${timeout}
`;

async function eventually<T>(check: () => Promise<T | undefined>, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('accord serve --config DIR', () => {
  let accord: TestAccord;
  let dir: string;
  const documents = async (): Promise<{ spec: { requestTimeoutMs?: number; requestTimeout?: string } }[]> =>
    ((await api(accord, 'GET', '/v1/policies')).body as { documents: { spec: { requestTimeoutMs?: number; requestTimeout?: string } }[] }).documents;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-policies-'));
    await writeFile(path.join(dir, 'payments.yaml'), policy('2s'));
    accord = await startTestAccord({ config: dir });
  });
  afterAll(async () => {
    await accord.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads the directory at start, follows edits, keeps the last good set on a broken file, and owns the policies', async () => {
    await eventually(async () => ((await documents()).length === 1 ? true : undefined), 'the initial policy');

    await writeFile(path.join(dir, 'payments.yaml'), policy('5s'));
    await eventually(async () => (JSON.stringify(await documents()).includes('5s') ? true : undefined), 'the edited policy');

    await writeFile(path.join(dir, 'payments.yaml'), policy('not-a-duration'));
    const detail = await eventually(async () => {
      const ready = (await api(accord, 'GET', '/v1/status')).body as { checks: { policies: { detail: { lastChangeOk: boolean; errors: string[] } } } };
      return ready.checks.policies.detail.lastChangeOk ? undefined : ready.checks.policies.detail;
    }, 'the rejected change in /v1/status');
    expect(detail.errors.join('\n')).toMatch(/payments\.yaml:6:\d+: spec\.requestTimeout/);
    expect(JSON.stringify(await documents())).toContain('5s');

    // Fixing the file applies it and clears the reported error.
    await writeFile(path.join(dir, 'payments.yaml'), policy('7s'));
    await eventually(async () => {
      const ready = (await api(accord, 'GET', '/v1/status')).body as { checks: { policies: { detail: { lastChangeOk: boolean } } } };
      return ready.checks.policies.detail.lastChangeOk && JSON.stringify(await documents()).includes('7s') ? true : undefined;
    }, 'the fixed file to apply');

    const refused = await api(accord, 'PUT', '/v1/policies', { yaml: policy('1s') });
    expect(refused.status).toBe(409);
    expect((refused.body as { error: { message: string } }).error.message).toContain('--config');
  });
});
