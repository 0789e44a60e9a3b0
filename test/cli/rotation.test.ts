/**
 * A root rotation that can always finish, with real `accord agent` processes killed with SIGKILL
 * (dead agents): deregistering or revoking their workloads releases the gate, `accord ca fence`
 * releases it, a silent agent drops out after `--rotation-grace`, and `accord ca rotate --abort`
 * returns to the old root from P1 (refused once the rotation is past P3). `--status` says the
 * phase, how long it waited and for whom.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, OPERATOR_TOKEN, freePort, waitFor } from '../e2e/processes.js';
import { CLI, runCli, type CliResult } from './run-cli.js';

interface Rotation {
  phase: string;
  waitingFor: string[];
  fenced?: string[];
  waitedSeconds?: number;
}

describe('root rotation with dead agents', () => {
  let dir: string;
  const servers: AccordProcess[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-rotation-'));
  });
  afterAll(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (args: string[] = []): Promise<{ cli: (args: string[]) => Promise<CliResult>; server: AccordProcess }> => {
    const server = await AccordProcess.start(args);
    servers.push(server);
    return { server, cli: (a) => runCli(a, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN }) };
  };

  /** Registers a workload, runs `accord agent` for it until it holds a certificate, then SIGKILLs it. */
  const deadAgent = async (server: AccordProcess, cli: (args: string[]) => Promise<CliResult>, service: string): Promise<string> => {
    const registered = await cli(['register', '--service', service, '--address', '127.0.0.1', '--port', String(await freePort()), '--protocol', 'grpc', '-o', 'json']);
    expect(registered.code, registered.stderr).toBe(0);
    const workload = JSON.parse(registered.stdout) as { id: string; token: string };
    const out = await mkdtemp(path.join(dir, `${service}-`));
    const env = { ...process.env };
    delete env.ACCORD_API_TOKEN;
    const agent = spawn(process.execPath, [CLI, 'agent', '--token', workload.token, '--server', server.http, '--xds', server.xds, '--out', out, '--listen', '127.0.0.1:0'], {
      env,
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    try {
      await waitFor(async () => (existsSync(path.join(out, 'cert.pem')) ? true : undefined), 30_000, `${service}'s agent to hold a certificate`);
    } finally {
      agent.kill('SIGKILL');
      await exited;
    }
    return workload.id;
  };

  const rotation = async (cli: (args: string[]) => Promise<CliResult>): Promise<Rotation> => {
    const result = await cli(['ca', 'rotate', '--status', '-o', 'json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Rotation;
  };
  const waitForPhase = (cli: (args: string[]) => Promise<CliResult>, check: (r: Rotation) => boolean, what: string): Promise<Rotation> =>
    waitFor(async () => {
      const r = await rotation(cli);
      return check(r) ? r : undefined;
    }, 40_000, what);

  it('deregistering one dead agent and revoking another releases P1; then fencing a third releases the next rotation', async () => {
    const { server, cli } = await start();
    const gone = await deadAgent(server, cli, 'gone');
    const revoked = await deadAgent(server, cli, 'revoked');

    const started = await cli(['ca', 'rotate']);
    expect(started.code, started.stderr).toBe(0);
    expect(started.stdout).toMatch(/^root rotation: P\d \(/);
    const held = await waitForPhase(cli, (r) => r.phase === 'P1_ADD_TRUST' && r.waitingFor.length === 2, 'P1 waiting for both dead agents');
    expect(held.waitingFor).toEqual([`agent:${gone}`, `agent:${revoked}`].sort());
    const human = await cli(['ca', 'rotate', '--status']);
    expect(human.stdout).toMatch(/^root rotation: P1 \(adding the new root to every proxy's trust\), since .* ago/m);
    expect(human.stdout).toMatch(/^waited: \S+ in this phase$/m);
    expect(human.stdout).toMatch(/^waiting for 2:$/m);
    expect(human.stdout).toContain(`  agent:${gone}`);

    expect((await cli(['deregister', gone])).code).toBe(0);
    const one = await waitForPhase(cli, (r) => r.waitingFor.length === 1, 'the deregistered agent to drop out');
    expect(one).toMatchObject({ phase: 'P1_ADD_TRUST', waitingFor: [`agent:${revoked}`] });
    const revoke = await cli(['ca', 'revoke', revoked]);
    expect(revoke.code, revoke.stderr).toBe(0);
    await waitForPhase(cli, (r) => r.phase === 'P4_RETIRED', 'the rotation to complete once the revoked agent dropped out');

    const fenced = await deadAgent(server, cli, 'fenced');
    expect((await cli(['ca', 'rotate'])).code).toBe(0);
    await waitForPhase(cli, (r) => r.phase === 'P1_ADD_TRUST' && r.waitingFor.includes(`agent:${fenced}`), 'the next rotation to wait for the third dead agent');
    const fence = await cli(['ca', 'fence', fenced]);
    expect(fence.code, fence.stderr).toBe(0);
    expect(fence.stdout).toMatch(new RegExp(`^fenced ${fenced}: it no longer holds the root rotation back`));
    const done = await waitForPhase(cli, (r) => r.phase === 'P4_RETIRED', 'the fenced rotation to complete');
    expect(done.fenced).toContain(`agent:${fenced}`);

    // Once past P3 there is no way back.
    const late = await cli(['ca', 'rotate', '--abort']);
    expect(late.code).toBe(1);
    expect(late.stderr).toMatch(/^accord: CONFLICT: cannot abort in P4_RETIRED: proxies may already trust only the new root/);
    const fenceLate = await cli(['ca', 'fence', fenced]);
    expect(fenceLate.code).toBe(1);
    expect(fenceLate.stderr).toMatch(/no root rotation is in progress/);
  }, 180_000);

  it('--abort from P1 returns to the old root alone while a dead agent holds the gate', async () => {
    const { server, cli } = await start();
    const before = await cli(['ca', 'bundle']);
    const stuck = await deadAgent(server, cli, 'stuck');
    expect((await cli(['ca', 'rotate'])).code).toBe(0);
    await waitForPhase(cli, (r) => r.phase === 'P1_ADD_TRUST' && r.waitingFor.includes(`agent:${stuck}`), 'P1 held by the dead agent');
    const during = await cli(['ca', 'bundle']);
    expect(during.stdout.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);

    const abort = await cli(['ca', 'rotate', '--abort']);
    expect(abort.code, abort.stderr).toBe(0);
    expect(abort.stdout).toMatch(/^root rotation: (aborting|aborted) .*from P1_ADD_TRUST/);
    await waitForPhase(cli, (r) => r.phase === 'ABORTED', 'the abort to finish');
    const after = await cli(['ca', 'bundle']);
    expect(after.stdout).toBe(before.stdout);
    const status = await cli(['ca', 'rotate', '--status']);
    expect(status.stdout).toMatch(/^root rotation: aborted \(the old root is the only trusted root\) from P1_ADD_TRUST/m);
  }, 120_000);

  it('an agent silent for longer than --rotation-grace drops out of the gate by itself', async () => {
    const { server, cli } = await start(['--rotation-grace', '12s']);
    const silent = await deadAgent(server, cli, 'silent');
    expect((await cli(['ca', 'rotate'])).code).toBe(0);
    const held = await waitForPhase(cli, (r) => r.phase === 'P1_ADD_TRUST' && r.waitingFor.includes(`agent:${silent}`), 'P1 held by the silent agent');
    expect(held.waitingFor).toEqual([`agent:${silent}`]);
    await waitForPhase(cli, (r) => r.phase === 'P4_RETIRED', 'the rotation to complete after the grace');
  }, 120_000);
});
