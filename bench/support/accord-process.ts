import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The built CLI, from the TypeScript sources (tests) or from dist/bench (benchmarks). */
export const CLI = [path.resolve(import.meta.dirname, '../../dist/src/cli/main.js'), path.resolve(import.meta.dirname, '../../src/cli/main.js')].find(
  (candidate) => candidate.includes(`${path.sep}dist${path.sep}`) && existsSync(candidate),
) ?? path.resolve(import.meta.dirname, '../../dist/src/cli/main.js');
export const OPERATOR_TOKEN = 'e2e-operator-token';
export const TEST_KEK = 'a'.repeat(64);

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
}

/** An `accord serve` child process on free ports (used by the end-to-end tests and the benchmarks). */
export class AccordProcess {
  readonly output: string[] = [];
  private child: ChildProcess | undefined;
  private exited: Promise<number | null> | undefined;

  private constructor(
    readonly xdsPort: number,
    readonly httpPort: number,
    readonly args: string[],
    readonly env: NodeJS.ProcessEnv,
    readonly nodeArgs: readonly string[],
  ) {}

  /** `nodeArgs` go to node itself (e.g. --cpu-prof, which NODE_OPTIONS refuses). */
  static async start(args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): Promise<AccordProcess> {
    for (let attempt = 1; ; attempt += 1) {
      const dataDir = await mkdtemp(path.join(tmpdir(), 'accord-e2e-'));
      const proc = new AccordProcess(await freePort(), await freePort(), args, {
        ACCORD_API_TOKEN: OPERATOR_TOKEN,
        ACCORD_CA_KEK: TEST_KEK,
        ACCORD_DATA_DIR: dataDir,
        ACCORD_LOG_LEVEL: 'info',
        ACCORD_SHUTDOWN_GRACE_MS: '200',
        ...env,
      }, nodeArgs);
      try {
        await proc.launch();
        return proc;
      } catch (error) {
        // freePort() lets the port go before accord binds it: a suite running alongside may take it first.
        if (attempt < 3 && /is already in use/.test(String(error))) continue;
        throw error;
      }
    }
  }

  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get xds(): string {
    return `127.0.0.1:${this.xdsPort}`;
  }

  async launch(): Promise<void> {
    const child = spawn(
      process.execPath,
      [...this.nodeArgs, CLI, 'serve', '--host', '127.0.0.1', '--xds-port', String(this.xdsPort), '--http-port', String(this.httpPort), ...this.args],
      { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    child.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    const outcome = await waitFor(
      async () => {
        if (child.exitCode !== null) return 'exited';
        const response = await fetch(`${this.http}/readyz`);
        return response.ok ? 'ready' : undefined;
      },
      20_000,
      `accord on ${this.http} to be ready`,
    );
    if (outcome === 'exited') throw new Error(`accord exited with ${child.exitCode}: ${this.output.join('').slice(-2000)}`);
  }

  kill9(): void {
    this.child?.kill('SIGKILL');
  }

  /** Sends SIGTERM and resolves with the exit code, however long the drain takes. */
  terminate(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return Promise.resolve(this.child?.exitCode ?? null);
    this.child.kill('SIGTERM');
    return this.exited as Promise<number | null>;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(): Promise<number | null> {
    if (!this.child || this.child.exitCode !== null) return this.child?.exitCode ?? null;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    const code = await this.exited;
    clearTimeout(timer);
    return code ?? null;
  }

  async request(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }> {
    const response = await fetch(`${this.http}${urlPath}`, {
      method,
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON
    }
    return { status: response.status, body: parsed };
  }
}
