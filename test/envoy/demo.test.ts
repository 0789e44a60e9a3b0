/**
 * `accord demo` as a user runs it: the CLI as a process with real Envoy sidecars. The commands it
 * prints work (the allowed call answers 200, the denied one 403, the rotation starts and calls
 * keep working), and SIGTERM stops every process it started.
 */
import { exec, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLI } from '../e2e/processes.js';
import { testEnvoyBinary } from '../support/envoy.js';

const DEMO_TIMEOUT_MS = 240_000;

/** The pids whose parent is `pid`, with their command lines (Linux /proc). */
function childrenOf(pid: number): Map<number, string> {
  const children = new Map<number, string>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const status = readFileSync(`/proc/${entry}/status`, 'utf8');
      if (Number(/^PPid:\s+(\d+)$/m.exec(status)?.[1]) === pid) {
        children.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim());
      }
    } catch {
      // the process ended while we looked
    }
  }
  return children;
}

function alive(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

function shell(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    exec(command, { timeout: 30_000 }, (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });
}

describe('accord demo', () => {
  it(
    'runs orders, payments and intruder behind real Envoys; the printed calls answer 200 and 403; SIGTERM leaves no process behind',
    async () => {
      const demo = spawn(process.execPath, [CLI, 'demo'], { env: { ...process.env, ENVOY_BIN: testEnvoyBinary().path }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      demo.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      demo.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => demo.once('exit', (code) => resolve(code)));
      let children = new Map<number, string>();
      try {
        const deadline = Date.now() + DEMO_TIMEOUT_MS - 60_000;
        while (!output.includes('Press Ctrl-C')) {
          if (demo.exitCode !== null) throw new Error(`accord demo exited with ${demo.exitCode}:\n${output}`);
          if (Date.now() > deadline) throw new Error(`accord demo did not come up:\n${output}`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const commands = output
          .split('\n')
          .filter((line) => line.trimStart().startsWith('$ '))
          .map((line) => line.trimStart().slice(2));
        expect(commands, output).toHaveLength(3);
        expect(commands[2]).toMatch(/ ca rotate /);

        const allowed = await shell(commands[0]);
        expect(allowed.stdout, allowed.stderr).toMatch(/^HTTP\/1\.1 200 /);
        expect(allowed.stdout).toContain('caller: spiffe://mesh.local/ns/default/sa/orders');
        const denied = await shell(commands[1]);
        expect(denied.stdout, denied.stderr).toMatch(/^HTTP\/1\.1 403 /);
        expect(denied.stdout).toContain('RBAC: access denied');

        const rotation = await shell(commands[2]);
        expect(rotation, rotation.stderr).toMatchObject({ code: 0 });
        expect(rotation.stdout).toMatch(/^root rotation: P1 /);
        const afterRotation = await shell(commands[0]);
        expect(afterRotation.stdout, afterRotation.stderr).toMatch(/^HTTP\/1\.1 200 /);

        children = childrenOf(demo.pid ?? -1);
        const commandLines = [...children.values()];
        expect(commandLines.filter((cmd) => / serve /.test(cmd)), commandLines.join('\n')).toHaveLength(1);
        expect(commandLines.filter((cmd) => /envoy -c /.test(cmd)), commandLines.join('\n')).toHaveLength(3);
      } finally {
        demo.kill('SIGTERM');
      }
      expect(await exited, output).toBe(0);
      expect(output).toContain('stopped.');
      const left = [...children.keys()].filter(alive);
      expect(left.map((pid) => children.get(pid))).toEqual([]);
    },
    DEMO_TIMEOUT_MS,
  );
});
