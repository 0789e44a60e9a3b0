/**
 * `accord demo` as a user runs it: the CLI as a process with real Envoy sidecars. The commands it
 * prints work (the allowed call answers 200, the denied one 403, the rotation starts and calls
 * keep working), the URL it prints opens the orders page through the ingress gateway over HTTPS
 * (trusting only the certificate it generated, which is for localhost), and SIGTERM stops every
 * process it started.
 */
import { exec, spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import type { PeerCertificate, TLSSocket } from 'node:tls';
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

/** `GET url` trusting only `ca`, as a person's browser would once told to trust the demo's certificate. */
function open(url: string, ca: string): Promise<{ status: number; type: string; body: string; certificate: PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, agent: false, timeout: 20_000 }, (res) => {
      const certificate = (res.socket as TLSSocket).getPeerCertificate();
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body, certificate }));
    });
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
  });
}

describe('accord demo', () => {
  it(
    'runs orders, payments and intruder behind real Envoys and a gateway; the printed calls answer 200 and 403, the printed URL the orders page; SIGTERM leaves no process behind',
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
        expect(commands, output).toHaveLength(4);
        expect(commands[2]).toMatch(/ ca rotate /);

        // The one URL a person opens: the orders page, served through the gateway's Envoy.
        const url = /^Open (https:\/\/localhost:\d+\/) /m.exec(output)?.[1];
        const certificateFile = /self-signed for localhost, (\S+\/tls\.crt):/.exec(output)?.[1];
        expect({ url, certificateFile }, output).toEqual({ url: expect.any(String), certificateFile: expect.any(String) });
        const page = await open(url as string, readFileSync(certificateFile as string, 'utf8'));
        expect(page.certificate.subject.CN).toBe('localhost');
        expect(page.status, page.body).toBe(200);
        expect(page.type).toMatch(/^text\/html/);
        expect(page.body).toContain('<h1>Accord demo: orders</h1>');
        expect(page.body).toContain('through the Accord ingress gateway');
        expect(page.body).toContain('<code>spiffe://mesh.local/ns/default/sa/edge</code>');
        // The printed curl line reaches the same page (-k: it does not trust the certificate).
        expect(commands[3]).toBe(`curl -sS -i -k ${url}`);
        const curled = await shell(commands[3]);
        expect(curled.stdout, curled.stderr).toMatch(/^HTTP\/(1\.1|2) 200 /);
        expect(curled.stdout).toContain('<code>spiffe://mesh.local/ns/default/sa/edge</code>');
        // Orders' own URL, bypassing the gateway and the sidecar, says there is no mesh caller.
        const direct = await shell(commands[0].replace(/\/pay$/, '/'));
        expect(direct.stdout, direct.stderr).toContain('there is no mesh caller');

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
        // Three sidecars and the gateway.
        expect(commandLines.filter((cmd) => /envoy -c /.test(cmd)), commandLines.join('\n')).toHaveLength(4);
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
