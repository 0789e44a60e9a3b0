/**
 * One local Envoy process, as the tests, `accord demo` and the benchmarks run it: several may run
 * on one host (no hot restart, so no shared domain socket), one worker thread, listener drains of
 * one second, the admin interface on 127.0.0.1 with a kernel-chosen port, and its log in a file.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { EnvoyAdmin } from './admin.js';
import { realClock, sleep } from '../core/clock.js';

export const BOOTSTRAP_FILE = 'bootstrap.yaml';
export const LOG_FILE = 'envoy.log';
export const ADMIN_ADDRESS_FILE = 'admin-address';
export const PID_FILE = 'envoy.pid';

export interface EnvoyProcessOptions {
  readonly binary: string;
  /** The bootstrap: an object in proto-JSON form, or YAML/JSON text (as `accord bootstrap` prints it). */
  readonly bootstrap: string | Record<string, unknown>;
  /** An existing directory for the bootstrap, the log, the admin address and the pid. */
  readonly workDir: string;
  /**
   * Replace the bootstrap's admin address with 127.0.0.1 and a port the kernel picks (read back
   * through `--admin-address-path`), so any number of Envoys can run side by side. Default true.
   */
  readonly ephemeralAdmin?: boolean;
  /** `-l`; default `info`. */
  readonly logLevel?: string;
  /** `--component-log-level`, e.g. `config:debug,secret:debug`. */
  readonly componentLogLevel?: string;
  readonly extraArgs?: readonly string[];
  /** How long to wait for the admin interface; default 60 s (a busy machine starts Envoy slowly). */
  readonly startTimeoutMs?: number;
}

export interface EnvoyExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** The bootstrap with its admin interface moved to 127.0.0.1 and an ephemeral port. */
export function withEphemeralAdmin(bootstrap: Record<string, unknown>): Record<string, unknown> {
  return { ...bootstrap, admin: { address: { socket_address: { address: '127.0.0.1', port_value: 0 } } } };
}

function bootstrapObject(bootstrap: string | Record<string, unknown>): Record<string, unknown> {
  if (typeof bootstrap !== 'string') return bootstrap;
  const parsed: unknown = parse(bootstrap);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('the Envoy bootstrap is not a YAML/JSON object');
  return parsed as Record<string, unknown>;
}

/** Writes the bootstrap into `workDir` (admin adjusted unless told not to); returns its path. */
export function writeBootstrap(workDir: string, bootstrap: string | Record<string, unknown>, ephemeralAdmin = true): string {
  const file = path.join(workDir, BOOTSTRAP_FILE);
  const object = bootstrapObject(bootstrap);
  writeFileSync(file, stringify(ephemeralAdmin ? withEphemeralAdmin(object) : object, { lineWidth: 0, aliasDuplicateObjects: false }), { mode: 0o600 });
  return file;
}

/** The flags every local Envoy runs with (besides `-c`). */
export function envoyArgs(options: { bootstrapPath: string; adminAddressPath: string; logLevel?: string; componentLogLevel?: string }): string[] {
  return [
    '-c',
    options.bootstrapPath,
    // No hot restart: each Envoy would otherwise claim the same abstract domain socket (base id 0).
    '--disable-hot-restart',
    '--concurrency',
    '1',
    '--drain-time-s',
    '1',
    '--admin-address-path',
    options.adminAddressPath,
    '-l',
    options.logLevel ?? 'info',
    ...(options.componentLogLevel ? ['--component-log-level', options.componentLogLevel] : []),
  ];
}

export class EnvoyProcess {
  readonly exited: Promise<EnvoyExit>;
  private exit: EnvoyExit | undefined;

  private constructor(
    private readonly child: ChildProcess,
    readonly workDir: string,
    readonly admin: EnvoyAdmin,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      }),
    );
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get logPath(): string {
    return path.join(this.workDir, LOG_FILE);
  }

  get bootstrapPath(): string {
    return path.join(this.workDir, BOOTSTRAP_FILE);
  }

  /** Whether the process has exited, and how. */
  get exitStatus(): EnvoyExit | undefined {
    return this.exit;
  }

  /** Everything Envoy has logged so far. */
  log(): string {
    try {
      return readFileSync(this.logPath, 'utf8');
    } catch {
      return '';
    }
  }

  /** Starts Envoy and resolves once its admin interface has an address; rejects (with its log) if it exits first. */
  static async start(options: EnvoyProcessOptions): Promise<EnvoyProcess> {
    const bootstrapPath = writeBootstrap(options.workDir, options.bootstrap, options.ephemeralAdmin ?? true);
    const adminAddressPath = path.join(options.workDir, ADMIN_ADDRESS_FILE);
    const logFd = openSync(path.join(options.workDir, LOG_FILE), 'a');
    let child: ChildProcess;
    try {
      child = spawn(options.binary, [...envoyArgs({ bootstrapPath, adminAddressPath, ...options }), ...(options.extraArgs ?? [])], {
        cwd: options.workDir,
        stdio: ['ignore', logFd, logFd],
      });
    } finally {
      closeSync(logFd);
    }
    const spawned = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (error) => resolve(error));
    });
    if (spawned) throw new Error(`could not start ${options.binary}: ${spawned.message}`);
    writeFileSync(path.join(options.workDir, PID_FILE), `${child.pid}\n`);

    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
    let address = '';
    while (!address) {
      if (exited) {
        throw new Error(`Envoy exited during start-up (exit ${child.exitCode ?? child.signalCode}); log ${path.join(options.workDir, LOG_FILE)}:\n${tail(options.workDir)}`);
      }
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`Envoy did not open its admin interface within ${options.startTimeoutMs ?? 60_000} ms; log:\n${tail(options.workDir)}`);
      }
      if (existsSync(adminAddressPath)) address = readFileSync(adminAddressPath, 'utf8').trim();
      if (!address) await sleep(realClock, 50);
    }
    return new EnvoyProcess(child, options.workDir, new EnvoyAdmin(`http://${address}`));
  }

  /** SIGTERM (Envoy exits at once, without draining), SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 10_000): Promise<EnvoyExit> {
    if (this.exit) return this.exit;
    this.child.kill('SIGTERM');
    const timer = realClock.setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      realClock.clearTimeout(timer);
    }
  }

  /** SIGKILL, synchronously (for process-exit handlers). */
  kill(): void {
    if (!this.exit) this.child.kill('SIGKILL');
  }
}

function tail(workDir: string, lines = 40): string {
  try {
    return readFileSync(path.join(workDir, LOG_FILE), 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export interface ValidateResult {
  readonly ok: boolean;
  /** What Envoy printed (on failure, the reason). */
  readonly output: string;
}

/** `envoy --mode validate -c <file>`: checks a bootstrap offline (no network; xDS content unchecked). */
export function validateBootstrap(binary: string, bootstrapPath: string): Promise<ValidateResult> {
  return new Promise((resolve) => {
    execFile(
      binary,
      ['--mode', 'validate', '-c', bootstrapPath, '--disable-hot-restart', '--concurrency', '1', '-l', 'warning'],
      { timeout: 120_000, encoding: 'utf8' },
      (error, stdout, stderr) => resolve({ ok: error === null, output: `${stdout}${stderr}`.trim() }),
    );
  });
}
