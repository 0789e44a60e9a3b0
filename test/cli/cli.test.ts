import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestAccord, type TestAccord } from '../app/harness.js';

const run = promisify(execFile);
const CLI = path.resolve(import.meta.dirname, '../../dist/src/cli/main.js');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

describe('accord CLI against a running server', () => {
  let accord: TestAccord;
  let dir: string;
  const cli = async (args: string[], env: Record<string, string> = {}): Promise<Result> => {
    try {
      const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
        env: { ...process.env, ACCORD_SERVER: accord.http, ACCORD_API_TOKEN: accord.token, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  };

  beforeAll(async () => {
    accord = await startTestAccord();
    dir = await mkdtemp(path.join(tmpdir(), 'accord-cli-'));
  });
  afterAll(async () => {
    await accord.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('every command has --help', async () => {
    for (const command of [[], ['serve'], ['register'], ['deregister'], ['workloads'], ['services'], ['apply'], ['delete'], ['policies'], ['bootstrap'], ['status'], ['agent'], ['ca'], ['ca', 'revoke']]) {
      const result = await cli([...command, '--help']);
      expect(result.code, `accord ${command.join(' ')} --help`).toBe(0);
      expect(result.stdout).toContain('Usage: accord');
    }
  }, 120_000);

  it('register prints the id and token; workloads and services list it; deregister removes it', async () => {
    const registered = await cli(['register', '--service', 'orders', '--address', '127.0.0.1', '--port', '9000', '--labels', 'version=v1', '--upstream', 'payments:9001', '-o', 'json']);
    expect(registered.code, registered.stderr).toBe(0);
    const { id, token } = JSON.parse(registered.stdout) as { id: string; token: string };
    expect(id).toMatch(/^orders-/);
    expect(token.length).toBeGreaterThan(20);

    const human = await cli(['register', '--service', 'orders', '--address', '127.0.0.2', '--port', '9000']);
    expect(human.stdout).toMatch(/^registered workload orders-\S+\nid: orders-.*\nspiffeId: spiffe:\/\/.*\ntoken: \S+\n$/);

    const workloads = await cli(['workloads', '-o', 'json']);
    expect((JSON.parse(workloads.stdout) as { workloads: { id: string }[] }).workloads.map((w) => w.id)).toContain(id);
    const table = await cli(['workloads']);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+SERVICE\s+NAMESPACE/);
    const services = await cli(['services', '-o', 'json']);
    expect((JSON.parse(services.stdout) as { services: unknown[] }).services).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'orders' })]));

    expect((await cli(['deregister', id])).code).toBe(0);
    const again = await cli(['deregister', id]);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toMatch(/^accord: NOT_FOUND/);
  });

  it('bootstrap prints an Envoy bootstrap carrying a fresh workload token', async () => {
    const registered = JSON.parse((await cli(['register', '--service', 'payments', '--address', '127.0.0.1', '--port', '9100', '-o', 'json'])).stdout) as { id: string };
    const envoy = await cli(['bootstrap', '--workload', registered.id, '--format', 'envoy']);
    expect(envoy.code, envoy.stderr).toBe(0);
    expect(envoy.stdout).toContain(registered.id);
    expect(envoy.stdout).toContain('Bearer ');
    const grpc = await cli(['bootstrap', '--workload', registered.id, '--format', 'grpc']);
    expect(JSON.parse(grpc.stdout)).toMatchObject({ node: { id: registered.id } });
  });

  it('apply validates locally with file:line:column and changes nothing on error', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: p }\nspec:\n  target: payments\n  retries: { attempts: "three" }\n');
    const result = await cli(['apply', '-f', bad]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${bad}:6:`);
    expect(result.stderr).toContain('retries.attempts');

    const good = path.join(dir, 'good.yaml');
    await writeFile(good, 'apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: p }\nspec:\n  target: payments\n  requestTimeout: 2s\n');
    const dry = await cli(['apply', '-f', good, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('dry run');
    const applied = await cli(['apply', '-f', good]);
    expect(applied.code, applied.stderr).toBe(0);
    expect(applied.stdout).toMatch(/^TrafficPolicy default\/p created$/m);
    expect(applied.stdout).toMatch(/^applied at revision \d+: 1 created$/m);
  });

  it('fails with one clear line when the server is unreachable or the token is wrong', async () => {
    const down = await cli(['workloads'], { ACCORD_SERVER: 'http://127.0.0.1:1' });
    expect(down.code).not.toBe(0);
    expect(down.stderr).toMatch(/^accord: cannot reach the Accord server/);
    const denied = await cli(['register', '--service', 'x', '--address', '127.0.0.1', '--port', '1'], { ACCORD_API_TOKEN: 'wrong' });
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toMatch(/^accord: PERMISSION_DENIED/);
  });

  it('reads the operator token from --token-file or ACCORD_API_TOKEN_FILE (a mounted Secret)', async () => {
    const tokenFile = path.join(dir, 'api-token');
    await writeFile(tokenFile, `${accord.token}\n`, { mode: 0o600 });
    const register = ['register', '--service', 'from-file', '--address', '127.0.0.1', '--port', '1', '--json'];
    const viaFlag = await cli([...register, '--token-file', tokenFile], { ACCORD_API_TOKEN: '' });
    expect(viaFlag.code, viaFlag.stderr).toBe(0);
    const viaEnv = await cli(register, { ACCORD_API_TOKEN: '', ACCORD_API_TOKEN_FILE: tokenFile });
    expect(viaEnv.code, viaEnv.stderr).toBe(0);
    const missing = await cli(register, { ACCORD_API_TOKEN: '', ACCORD_API_TOKEN_FILE: path.join(dir, 'nope') });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/^accord: --token-file: cannot read .*nope: ENOENT\n$/);
  });

  it('status and ca show print the sync state and the CA', async () => {
    const status = await cli(['status', '-o', 'json']);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toHaveProperty('proxies');
    const ca = await cli(['ca', 'show']);
    expect(ca.code, ca.stderr).toBe(0);
  });
});
