import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run, tempDir } from './support.js';

const CLI = path.resolve(import.meta.dirname, '../../dist/src/cli/main.js');
const OPERATOR = 'exposure-operator-token';

interface Served {
  child: ChildProcess;
  output: string[];
  serving?: { host: string; xdsPort: number; httpPort: number; xdsTls: boolean; httpTls: boolean };
  exit?: number | null;
}

/** `accord serve` as a process with ephemeral ports; resolves once it serves or exits. */
async function serve(dataDir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve', '--data-dir', dataDir, '--xds-port', '0', '--http-port', '0', ...args], {
    // Stopped with SIGTERM often: no drain period (ACCORD_SHUTDOWN_GRACE_MS).
    env: { ...process.env, ACCORD_API_TOKEN: OPERATOR, ACCORD_LOG_LEVEL: 'info', ACCORD_HOST: '', ACCORD_SHUTDOWN_GRACE_MS: '200', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const served: Served = { child, output: [] };
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 20_000);
    const onLine = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        served.output.push(line);
        if (line.includes('accord is serving')) {
          served.serving = JSON.parse(line) as Served['serving'];
          clearTimeout(timer);
          resolve();
        }
      }
    };
    child.stdout?.on('data', onLine);
    child.stderr?.on('data', onLine);
    child.on('exit', (code) => {
      served.exit = code;
      clearTimeout(timer);
      resolve();
    });
  });
  return served;
}

async function stop(served: Served): Promise<void> {
  if (served.exit !== undefined) return;
  await new Promise<void>((resolve) => {
    served.child.once('exit', () => resolve());
    served.child.kill('SIGTERM');
  });
}

async function cli(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, ACCORD_API_TOKEN: OPERATOR, ACCORD_CA_FILE: '', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The listening sockets of a process, from /proc (no traffic involved). */
async function listeningAddresses(pid: number): Promise<string[]> {
  const { stdout } = await run('ss', ['-Hltnp']);
  return stdout
    .split('\n')
    .filter((line) => line.includes(`pid=${pid},`))
    .map((line) => line.trim().split(/\s+/)[3] ?? '');
}

/**
 * Issue #9, item 10: the embedded default binds loopback; bound anywhere else, `serve` refuses to
 * start without TLS on the xDS port unless `--insecure` (warned on every start); the HTTP API can
 * serve TLS (mesh CA or operator files) and the CLI works against it with a CA file.
 */
describe('accord serve: what it exposes, and TLS for the HTTP API (processes)', () => {
  let dir: { dir: string; remove(): Promise<void> };
  const running: Served[] = [];
  beforeAll(async () => {
    dir = await tempDir('accord-exposure-');
  });
  afterEach(async () => {
    for (const served of running.splice(0)) await stop(served);
  });
  afterAll(async () => {
    await dir.remove();
  });

  it('binds 127.0.0.1 by default', async () => {
    const served = await serve(path.join(dir.dir, 'default'), []);
    running.push(served);
    console.log(`default serve: ${JSON.stringify(served.serving)}`);
    expect(served.serving?.host).toBe('127.0.0.1');
    const sockets = await listeningAddresses(served.child.pid ?? -1);
    console.log(`default serve listens on ${JSON.stringify(sockets)}`);
    expect(sockets.length).toBe(2);
    for (const socket of sockets) expect(socket).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('refuses to serve on 0.0.0.0 without xDS TLS, with a clear line', async () => {
    const served = await serve(path.join(dir.dir, 'refused'), ['--host', '0.0.0.0']);
    running.push(served);
    console.log(`--host 0.0.0.0: exit ${served.exit}, serving ${served.serving !== undefined}; ${served.output.at(-1)}`);
    expect(served.serving).toBeUndefined();
    expect(served.exit).not.toBe(0);
    expect(served.output.join('\n')).toMatch(/refusing to serve xDS on 0\.0\.0\.0 without TLS.*--xds-tls.*--insecure/);
  });

  it('with --insecure it serves, and warns on every start', async () => {
    const dataDir = path.join(dir.dir, 'insecure');
    for (const attempt of [1, 2]) {
      const served = await serve(dataDir, ['--host', '0.0.0.0', '--insecure']);
      expect(served.serving?.host, `start ${attempt}`).toBe('0.0.0.0');
      const warnings = served.output.filter((line) => line.includes('"level":40') && line.includes('--insecure'));
      console.log(`--insecure start ${attempt}: ${warnings.length} warning(s): ${JSON.parse(warnings[0] ?? '{}').msg as string}`);
      expect(warnings.length).toBe(1);
      await stop(served);
    }
  });

  it('--http-tls with a mesh-CA certificate: the CLI works with --ca-file / ACCORD_CA_FILE and fails clearly without', async () => {
    const dataDir = path.join(dir.dir, 'mesh-tls');
    const served = await serve(dataDir, ['--host', '0.0.0.0', '--xds-tls', '--http-tls']);
    running.push(served);
    expect(served.serving).toMatchObject({ host: '0.0.0.0', xdsTls: true, httpTls: true });
    const warnings = served.output.filter((line) => line.includes('"level":40'));
    expect(warnings).toEqual([]);
    const caFile = path.join(dir.dir, 'mesh-ca.pem');
    const material = JSON.parse(await readFile(path.join(dataDir, 'ca.json'), 'utf8')) as { root: { certPem: string } };
    await writeFile(caFile, material.root.certPem);
    const server = `https://127.0.0.1:${served.serving?.httpPort}`;

    const withoutCa = await cli(['workloads', '--server', server], {});
    console.log(`CLI without a CA file: exit ${withoutCa.code}: ${withoutCa.stderr.trim()}`);
    expect(withoutCa.code).not.toBe(0);
    expect(withoutCa.stderr).toMatch(/^accord: cannot reach the Accord server at https:/);

    const registered = await cli(['register', '--service', 'orders', '--address', '127.0.0.1', '--port', '9000', '--json', '--server', server, '--ca-file', caFile], {});
    expect(registered.code, registered.stderr).toBe(0);
    const listed = await cli(['workloads', '--json', '--server', server], { ACCORD_CA_FILE: caFile });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain('orders');
    const bundle = await cli(['ca', 'bundle', '--server', `https://localhost:${served.serving?.httpPort}`], { ACCORD_CA_FILE: caFile });
    expect(bundle.code, bundle.stderr).toBe(0);
    expect(bundle.stdout).toContain(material.root.certPem.trim());
  });

  it('--http-tls-cert/--http-tls-key with operator files', async () => {
    const cert = path.join(dir.dir, 'op.crt');
    const key = path.join(dir.dir, 'op.key');
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1']);
    const served = await serve(path.join(dir.dir, 'op-tls'), ['--http-tls-cert', cert, '--http-tls-key', key]);
    running.push(served);
    expect(served.serving?.httpTls).toBe(true);
    const status = await cli(['ca', 'show', '-o', 'json', '--server', `https://127.0.0.1:${served.serving?.httpPort}`], { ACCORD_CA_FILE: cert });
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ trustDomain: 'mesh.local' });
  });
});
