/**
 * Every command as an operator meets it, the CLI as a process against a real `accord serve`:
 * output formats and exit codes, re-registration, the CA commands' sentences, bootstraps with
 * absolute paths, the agent's failures and status endpoint, and `serve` failing loudly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, OPERATOR_TOKEN, TEST_KEK, freePort, waitFor } from '../e2e/processes.js';
import { deletePrefix } from '../registry/redis-helpers.js';
import { CLI, runCli, type CliResult } from './run-cli.js';

const REDIS = 'redis://127.0.0.1:6379';

/** GET over the agent's unix socket. */
function getUnix(socketPath: string, urlPath: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path: urlPath, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** A child process whose output is kept and whose exit can be awaited with a deadline. */
function spawnAccord(args: string[], env: NodeJS.ProcessEnv, cwd?: string): { child: ChildProcess; output: () => string; stderr: () => string; exited: (ms: number) => Promise<number | null> } {
  const base = { ...process.env };
  delete base.ACCORD_CA_KEK;
  delete base.ACCORD_API_TOKEN;
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'], cwd });
  const out: string[] = [];
  const err: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => out.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => err.push(chunk.toString()));
  const done = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => out.join(''),
    stderr: () => err.join(''),
    exited: async (ms) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await done;
      clearTimeout(timer);
      return code;
    },
  };
}

describe('every command against accord serve', () => {
  let server: AccordProcess;
  let dir: string;
  const cli = (args: string[], cwd?: string): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN }, undefined, cwd);
  const json = <T>(result: CliResult): T => {
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as T;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-cli-ops-'));
    server = await AccordProcess.start([]);
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('re-registering the same endpoint returns the same workload instead of a duplicate, and says so', async () => {
    const args = ['register', '--service', 'ledger', '--address', '10.0.0.5', '--port', '8080'];
    const first = json<{ id: string; spiffeId: string; created: boolean }>(await cli([...args, '-o', 'json']));
    expect(first.created).toBe(true);
    const again = await cli([...args, '--labels', 'version=v2']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.split('\n')[0]).toBe(`already registered: workload ${first.id} keeps its id and identity; its registration was replaced`);
    const second = json<{ id: string; spiffeId: string; created: boolean }>(await cli([...args, '-o', 'json']));
    expect(second).toMatchObject({ id: first.id, spiffeId: first.spiffeId, created: false });

    const { workloads } = json<{ workloads: { id: string; service: string; labels: Record<string, string> }[] }>(await cli(['workloads', '-o', 'json']));
    const ledgers = workloads.filter((w) => w.service === 'ledger');
    expect(ledgers.map((w) => w.id)).toEqual([first.id]);
    // The second registration replaced the first: the labels of the last one are in force.
    expect(ledgers[0]?.labels).toEqual({});
    const otherPort = json<{ id: string; created: boolean }>(await cli(['register', '--service', 'ledger', '--address', '10.0.0.5', '--port', '8081', '-o', 'json']));
    expect(otherPort.created).toBe(true);
    expect(otherPort.id).not.toBe(first.id);

    // The same identity only: another service account for the same endpoint is a conflict.
    const conflict = await cli([...args, '--service-account', 'someone-else']);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toMatch(/^accord: CONFLICT: default\/ledger at 10\.0\.0\.5:8080 is registered as workload \S+ with service account "ledger"/);
  });

  it('-o json prints what the HTTP API answers; -o yaml the same in YAML', async () => {
    for (const [command, route] of [
      ['workloads', '/v1/workloads'],
      ['services', '/v1/services'],
      ['policies', '/v1/policies'],
      ['ca', '/v1/ca'],
    ] as const) {
      const args = command === 'ca' ? ['ca', 'show'] : [command];
      const printed = json<unknown>(await cli([...args, '-o', 'json']));
      const api = (await server.request('GET', route)).body;
      // secondsLeft counts down between the two reads.
      const stable = (value: unknown): string => JSON.stringify(value, (key, v: unknown) => (key === 'secondsLeft' ? typeof v : v));
      expect(stable(printed), command).toEqual(stable(api));
    }
    const yaml = await cli(['workloads', '-o', 'yaml']);
    expect(yaml.code).toBe(0);
    expect(yaml.stdout).toMatch(/^workloads:\n {2}- id: /);
  });

  it('exit codes: 0 ok, 1 failed, 2 the command line was wrong', async () => {
    expect((await cli(['--version'])).code).toBe(0);
    expect((await cli(['workloads', '--help'])).code).toBe(0);
    for (const args of [[], ['frobnicate'], ['workloads', '--bogus'], ['register', '--service', 'x'], ['workloads', '-o', 'xml'], ['register', '--service', 'x', '--address', '1.2.3.4', '--port', '99999'], ['ca', 'revoke', 'zz', '--serial'], ['ca', 'revoke', 'NOT an id']]) {
      const result = await cli(args);
      expect(result.code, `accord ${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr.length).toBeGreaterThan(0);
    }
    const missing = await cli(['deregister', 'nothing-here']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^accord: NOT_FOUND: /);
    const unreachable = await runCli(['workloads'], { ACCORD_SERVER: 'http://127.0.0.1:1', ACCORD_API_TOKEN: OPERATOR_TOKEN });
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('ca show, rotate and revoke speak in sentences with readable times; revoke says whether it took an id or a serial', async () => {
    const show = await cli(['ca', 'show']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.stdout).toMatch(/^trust domain: mesh\.local {3}health: ok/m);
    expect(show.stdout).toMatch(/^root\s+in \d+y \d+d\s+\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z\s+CN=/m);
    expect(show.stdout).toMatch(/^root rotation: no root rotation in progress$/m);

    const workload = json<{ id: string }>(await cli(['register', '--service', 'revokee', '--address', '10.0.0.9', '--port', '80', '-o', 'json']));
    const byId = await cli(['ca', 'revoke', workload.id]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stdout).toMatch(new RegExp(`^revoked workload ${workload.id} \\(taken as a workload id\\): 0 certificate\\(s\\) revoked; it gets no new certificate`));
    const bySerial = await cli(['ca', 'revoke', '0a:1b:2c:3d:4e:5f:60:71:82']);
    expect(bySerial.code, bySerial.stderr).toBe(0);
    expect(bySerial.stdout).toMatch(/^revoked certificate serial 0a1b2c3d4e5f607182 \(taken as a serial\)/);
    const asJson = json<{ revoked: string[] }>(await cli(['ca', 'revoke', '--serial', '0a1b2c3d4e5f6071', '-o', 'json']));
    expect(asJson.revoked).toEqual(expect.any(Array));

    const rotate = await cli(['ca', 'rotate']);
    expect(rotate.code, rotate.stderr).toBe(0);
    expect(rotate.stdout).toMatch(/^root rotation: P\d \(.*\), since .* ago/);
    const status = await cli(['status']);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toMatch(/^root rotation: P\d/m);
    expect(status.stdout).not.toContain('{"');
  });

  it('bootstrap --format grpc names absolute certificate paths, whatever directory it was given', async () => {
    const workload = json<{ id: string }>(await cli(['register', '--service', 'grpcapp', '--address', '10.0.0.11', '--port', '50051', '--protocol', 'grpc', '-o', 'json']));
    const result = await cli(['bootstrap', '--workload', workload.id, '--format', 'grpc', '--cert-dir', 'certs'], dir);
    expect(result.code, result.stderr).toBe(0);
    const config = (JSON.parse(result.stdout) as { certificate_providers: { default: { config: Record<string, string> } } }).certificate_providers.default.config;
    expect(config.certificate_file).toBe(path.join(dir, 'certs', 'cert.pem'));
    expect(path.isAbsolute(config.ca_certificate_file ?? '')).toBe(true);
    // The API refuses relative paths rather than guess where the proxy runs.
    const relative = await server.request('GET', `/v1/workloads/${workload.id}/bootstrap?format=grpc&certDir=certs`);
    expect(relative.status).toBe(400);
  });

  describe('accord agent', () => {
    const agents: ReturnType<typeof spawnAccord>[] = [];
    afterEach(async () => {
      for (const agent of agents.splice(0)) {
        agent.child.kill('SIGTERM');
        await agent.exited(10_000);
      }
    });

    it('with the server unreachable: logs every failure with its retry, and /healthz says why it is failing', async () => {
      const out = await mkdtemp(path.join(dir, 'agent-down-'));
      const agent = spawnAccord(['agent', '--token', 'x', '--server', 'http://127.0.0.1:1', '--xds', '127.0.0.1:1', '--out', out, '--listen', '127.0.0.1:0'], {});
      agents.push(agent);
      const socket = path.join(out, 'agent.sock');
      await waitFor(async () => (agent.output().split('\n').filter((line) => line.includes('cannot reach the control plane at http://127.0.0.1:1')).length >= 3 ? true : undefined), 30_000, 'three logged failures');
      const lines = agent.output().split('\n').filter((line) => line.includes('getting a certificate failed'));
      const delays = lines.map((line) => (JSON.parse(line) as { retryInMs: number }).retryInMs);
      // Backing off: every retry waits at least as long as the one before.
      expect(delays.slice(0, 3)).toEqual([...delays.slice(0, 3)].sort((a, b) => a - b));
      expect(delays[2]).toBeGreaterThan(delays[0] as number);
      const health = await getUnix(socket, '/healthz');
      expect(health.status).toBe(503);
      expect(health.body.reason).toMatch(/^no certificate yet: cannot reach the control plane at http:\/\/127\.0\.0\.1:1/);
      expect(agent.child.exitCode).toBeNull();
    }, 60_000);

    it('with a refused token: logs the refusal as an error and exits non-zero with one line', async () => {
      const out = await mkdtemp(path.join(dir, 'agent-refused-'));
      const agent = spawnAccord(['agent', '--token', 'not-a-workload-token', '--server', server.http, '--xds', server.xds, '--out', out, '--listen', '127.0.0.1:0'], {});
      agents.push(agent);
      const code = await agent.exited(60_000);
      expect(code).toBe(1);
      expect(agent.stderr().trim().split('\n')).toEqual([expect.stringMatching(/^accord: agent failed to start: giving up after \d+ refusals: the workload token was refused \(401\)/)]);
      const errors = agent.output().split('\n').filter((line) => line.includes('"level":50'));
      expect(errors.length).toBeGreaterThan(0);
    }, 90_000);

    it('running: writes a bootstrap with absolute paths from a relative --out, and /healthz and /status report its certificate', async () => {
      const workload = json<{ id: string; token: string; spiffeId: string }>(await cli(['register', '--service', 'agented', '--address', '127.0.0.1', '--port', String(await freePort()), '--protocol', 'grpc', '-o', 'json']));
      const cwd = await mkdtemp(path.join(dir, 'agent-ok-'));
      const agent = spawnAccord(['agent', '--token', workload.token, '--server', server.http, '--xds', server.xds, '--out', 'certs', '--listen', '127.0.0.1:0'], {}, cwd);
      agents.push(agent);
      const bootstrapFile = path.join(cwd, 'certs', 'bootstrap.json');
      await waitFor(async () => (existsSync(bootstrapFile) ? true : undefined), 30_000, `bootstrap.json (${agent.output().slice(-500)})`);
      const bootstrap = JSON.parse(await readFile(bootstrapFile, 'utf8')) as { certificate_providers: { default: { config: Record<string, string> } } };
      expect(bootstrap.certificate_providers.default.config.certificate_file).toBe(path.join(cwd, 'certs', 'cert.pem'));
      expect(bootstrap.certificate_providers.default.config.private_key_file).toBe(path.join(cwd, 'certs', 'key.pem'));

      const socket = path.join(cwd, 'certs', 'agent.sock');
      const health = await getUnix(socket, '/healthz');
      expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
      const status = await getUnix(socket, '/status');
      expect(status.body).toMatchObject({ certificate: { spiffeId: workload.spiffeId, serial: expect.stringMatching(/^[0-9a-f]+$/) }, lastFailure: null });
      expect(JSON.stringify(status.body)).not.toContain('PRIVATE KEY');
    }, 60_000);

    it('--status takes a loopback port, and refuses any other address', async () => {
      const refused = await runCli(['agent', '--token', 'x', '--xds', '127.0.0.1:1', '--out', dir, '--status', '0.0.0.0:15011']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/^accord: --status must be a loopback address or a unix socket/);
    });
  });
});

describe('accord serve fails loudly at start-up', () => {
  let dir: string;
  let blocker: Server | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-serve-fail-'));
  });
  afterAll(async () => {
    blocker?.close();
    await rm(dir, { recursive: true, force: true });
  });
  const serve = async (extra: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string; output: string }> => {
    const args = ['serve', '--host', '127.0.0.1', '--data-dir', await mkdtemp(path.join(dir, 'data-')), '--xds-port', String(await freePort()), '--http-port', String(await freePort()), ...extra];
    const proc = spawnAccord(args, { ACCORD_LOG_LEVEL: 'warn', ...env });
    // A generous upper bound: "at once" means it does not keep running.
    const code = await proc.exited(30_000);
    return { code, stderr: proc.stderr(), output: proc.output() };
  };
  const oneLine = (stderr: string): string => {
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    return lines[0] as string;
  };

  it('a taken port: exits 1 with one readable line, not grpc-js\'s raw message', async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker?.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    const xds = await serve(['--xds-port', String(taken)]);
    expect(xds.code).toBe(1);
    expect(oneLine(xds.stderr)).toBe(`accord: serve failed to start: port ${taken} on 127.0.0.1 is already in use (--xds-port): stop the other process or choose another port`);
    const http = await serve(['--http-port', String(taken)]);
    expect(http.code).toBe(1);
    expect(oneLine(http.stderr)).toContain('(--http-port)');
    expect(http.stderr + http.output).not.toContain('No address added');
  }, 90_000);

  it('with --redis: a missing or wrong ACCORD_CA_KEK ends the start', async () => {
    const prefix = `accord-test-${randomBytes(6).toString('hex')}`;
    try {
      const missing = await serve(['--redis', REDIS, '--redis-prefix', prefix]);
      expect(missing.code).toBe(1);
      expect(oneLine(missing.stderr)).toMatch(/^accord: serve failed to start: with --redis, replicas must sign with one shared CA: set ACCORD_CA_KEK/);

      // The first replica seals the CA with one KEK; a replica with another cannot open it.
      const first = await AccordProcess.start(['--redis', REDIS, '--redis-prefix', prefix], { ACCORD_CA_KEK: TEST_KEK });
      await first.stop();
      const wrong = await serve(['--redis', REDIS, '--redis-prefix', prefix], { ACCORD_CA_KEK: 'b'.repeat(64) });
      expect(wrong.code).toBe(1);
      expect(oneLine(wrong.stderr)).toMatch(/^accord: serve failed to start: .*KEK/);
    } finally {
      await deletePrefix(`{${prefix}}:`);
    }
  }, 90_000);

  it('unreadable CA files and an unreachable Redis end the start with the reason', async () => {
    const noCa = await serve(['--ca-cert', path.join(dir, 'missing.pem'), '--ca-key', path.join(dir, 'missing.key')]);
    expect(noCa.code).toBe(1);
    expect(oneLine(noCa.stderr)).toMatch(/^accord: serve failed to start: .*missing\.pem.*ENOENT/);
    const unreadable = path.join(dir, 'garbage.pem');
    await writeFile(unreadable, 'not a certificate');
    const badCa = await serve(['--ca-cert', unreadable, '--ca-key', unreadable]);
    expect(badCa.code).toBe(1);
    oneLine(badCa.stderr);
    const noRedis = await serve(['--redis', 'redis://127.0.0.1:1'], { ACCORD_CA_KEK: TEST_KEK });
    expect(noRedis.code).toBe(1);
    expect(oneLine(noRedis.stderr)).toMatch(/^accord: serve failed to start: cannot reach the registry's Redis at redis:\/\/127\.0\.0\.1:1/);
  }, 90_000);
});
