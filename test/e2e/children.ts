import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { CLI, waitFor } from './processes.js';

const CHILDREN = path.resolve(import.meta.dirname, 'children');

/** A child process speaking JSON lines on stdin/stdout. */
export class JsonLineChild {
  readonly events: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];
  private readonly pending = new Map<number, (value: Record<string, unknown>) => void>();
  private nextId = 1;
  readonly child: ChildProcess;

  constructor(args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let value: Record<string, unknown>;
      try {
        value = JSON.parse(line) as Record<string, unknown>;
      } catch {
        this.stderr.push(line);
        return;
      }
      const id = value.id;
      if (typeof id === 'number' && this.pending.has(id)) {
        this.pending.get(id)?.(value);
        this.pending.delete(id);
      } else {
        this.events.push(value);
      }
    });
    this.child.stderr?.on('data', (chunk: Buffer) => this.stderr.push(chunk.toString()));
  }

  send<T extends Record<string, unknown>>(command: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(command)}; stderr: ${this.stderr.join('').slice(-1500)}`)), timeoutMs);
      this.pending.set(id, (value) => {
        clearTimeout(timer);
        resolve(value as T);
      });
      this.child.stdin!.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  }

  async waitForEvent(name: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return waitFor(async () => this.events.find((e) => e.event === name), timeoutMs, `event "${name}" (stderr: ${this.stderr.join('').slice(-800)})`);
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null) this.child.kill(signal);
  }
}

/** `accord agent` for one workload (its local xDS proxy on the default Unix socket); resolves once its bootstrap.json exists. */
export async function startAgent(token: string, servers: string[], xds: string[], outDir?: string): Promise<{ dir: string; child: ChildProcess; output: string[] }> {
  const dir = outDir ?? (await mkdtemp(path.join(tmpdir(), 'accord-agent-')));
  const output: string[] = [];
  const child = spawn(process.execPath, [CLI, 'agent', '--token', token, '--server', servers.join(','), '--xds', xds.join(','), '--out', dir], {
    env: { ...process.env, ACCORD_LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`agent exited: ${output.join('').slice(-1500)}`);
      return existsSync(path.join(dir, 'bootstrap.json')) ? true : undefined;
    },
    20_000,
    'the agent to write bootstrap.json',
  );
  return { dir, child, output };
}

export function startEchoServer(name: string, address: string, agentDir: string): JsonLineChild {
  return new JsonLineChild([path.join(CHILDREN, 'echo-server.mjs')], {
    SERVER_NAME: name,
    LISTEN_ADDRESS: address,
    GRPC_XDS_BOOTSTRAP: path.join(agentDir, 'bootstrap.json'),
  });
}

export function startEchoClient(agentDir: string): JsonLineChild {
  return new JsonLineChild([path.join(CHILDREN, 'echo-client.mjs')], { GRPC_XDS_BOOTSTRAP: path.join(agentDir, 'bootstrap.json') });
}
