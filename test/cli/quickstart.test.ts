/**
 * The README's quick start, `status` and `describe` included, run as written (the CLI as a
 * process against `accord serve`): the lines this test runs must stay in the README.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, OPERATOR_TOKEN } from '../e2e/processes.js';
import { runCli, type CliResult } from './run-cli.js';

const README = readFileSync(path.resolve(import.meta.dirname, '../../README.md'), 'utf8');
const quickStart = README.slice(README.indexOf('## Quick start'), README.indexOf('## Architecture'));

describe('README quick start', () => {
  let server: AccordProcess;
  let dir: string;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN });
  /** Runs a README line (`accord ...` up to any comment) after checking it is in the quick start. */
  const line = async (command: string): Promise<CliResult> => {
    expect(quickStart).toContain(command);
    const result = await cli(command.replace(/^accord /, '').split(/\s+/));
    expect(result.code, `${command}: ${result.stderr}`).toBe(0);
    return result;
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-quickstart-'));
    server = await AccordProcess.start([]);
  }, 60_000);
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('register, apply, describe, status and ca show work as the README says', async () => {
    await line('accord register --service payments --address 10.0.0.7 --port 8080 --protocol grpc');
    await line('accord register --service orders --address 10.0.0.8 --port 8080 --upstream payments:9001');
    const policy = /cat > payments-callers\.yaml <<'YAML'\n([\s\S]*?)\nYAML/.exec(quickStart)?.[1];
    expect(policy).toBeDefined();
    await writeFile(path.join(dir, 'payments-callers.yaml'), `${policy ?? ''}\n`);
    const applied = await cli(['apply', '-f', path.join(dir, 'payments-callers.yaml')]);
    expect(applied.code, applied.stderr).toBe(0);

    const described = await line('accord describe payments');
    expect(described.stdout).toMatch(/^\s+orders\.default\s+ALLOWED\s+AuthorizationPolicy default\/payments-callers$/m);
    const status = await line('accord status');
    expect(status.stdout).toMatch(/^no proxy is connected/m);
    expect(status.stdout).toMatch(/^root expires in \d+ days/m);
    const ca = await line('accord ca show');
    expect(ca.stdout).toMatch(/^root rotation: no root rotation in progress$/m);
    const rotation = await line('accord ca rotate --status');
    expect(rotation.stdout).toMatch(/^root rotation: no root rotation in progress$/m);
    expect(quickStart).toContain('accord status <workload id>');
  }, 90_000);
});
