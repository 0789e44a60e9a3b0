/**
 * The demo's control plane: `accord serve` as a child process with the embedded default
 * (in-memory registry, development CA) in the demo's temporary data directory, on 127.0.0.1 and
 * kernel-chosen ports. It generates its own operator token into the data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { keepAliveClock, sleep } from '../core/clock.js';
import { freePortOn } from './ports.js';

const START_TIMEOUT_MS = 60_000;

export class DemoControlPlane {
  private readonly exitedPromise: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly dataDir: string,
    readonly logPath: string,
    readonly xdsPort: number,
    readonly httpPort: number,
  ) {
    this.exitedPromise = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get http(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  get xds(): string {
    return `127.0.0.1:${this.xdsPort}`;
  }

  get exited(): Promise<void> {
    return this.exitedPromise;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The operator token `accord serve` wrote into its data dir. */
  token(): string {
    return readFileSync(this.tokenFile, 'utf8').trim();
  }

  get tokenFile(): string {
    return path.join(this.dataDir, 'api-token');
  }

  static async start(cliMain: string, dataDir: string): Promise<DemoControlPlane> {
    const xdsPort = await freePortOn('127.0.0.1');
    const httpPort = await freePortOn('127.0.0.1');
    const logPath = path.join(dataDir, 'accord.log');
    // The demo's own settings only: an ACCORD_* variable of the calling shell (a Redis URL, a
    // token) must not turn the throwaway demo into something that touches real state.
    const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('ACCORD_')));
    env.ACCORD_CA_KEK = randomBytes(32).toString('hex');
    env.ACCORD_LOG_LEVEL = 'info';
    env.ACCORD_DRAIN_SECONDS = '1';
    const logFd = openSync(logPath, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        [cliMain, 'serve', '--host', '127.0.0.1', '--xds-port', String(xdsPort), '--http-port', String(httpPort), '--data-dir', dataDir],
        { env, stdio: ['ignore', logFd, logFd] },
      );
    } finally {
      closeSync(logFd);
    }
    const plane = new DemoControlPlane(child, dataDir, logPath, xdsPort, httpPort);
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (!plane.running) throw new Error(`accord serve exited during start-up; log ${logPath}:\n${tail(logPath)}`);
      try {
        if ((await fetch(`${plane.http}/readyz`, { signal: AbortSignal.timeout(5000) })).ok) return plane;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await plane.stop();
        throw new Error(`accord serve was not ready within ${START_TIMEOUT_MS} ms; log ${logPath}:\n${tail(logPath)}`);
      }
      await sleep(keepAliveClock, 100);
    }
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = keepAliveClock.setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    keepAliveClock.clearTimeout(timer);
  }

  /** SIGKILL, synchronously (for process-exit handlers). */
  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

function tail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
