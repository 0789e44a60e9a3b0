/**
 * Runs the real @grpc/grpc-js-xds client (grpc-xds-child.mjs) in a child process and
 * talks to it over JSON lines, plus plain grpc-js backends it can reach.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';

const CHILD = fileURLToPath(new URL('./grpc-xds-child.mjs', import.meta.url));

export interface XdsBootstrapInit {
  serverUri: string;
  nodeId: string;
  cluster?: string;
  serverFeatures?: string[];
  /** A directory with cert.pem, key.pem and ca.pem: the `default` file_watcher provider. */
  certDir?: string;
}

/** The Listener name an xDS-enabled gRPC server bound to `address` (literal IP:port) asks for. */
export const SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';

/** A gRPC xDS bootstrap (see grpc-js-xds.md): insecure channel to the server, node with locality. */
export function grpcBootstrap(init: XdsBootstrapInit): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: init.serverUri, channel_creds: [{ type: 'insecure' }], server_features: init.serverFeatures ?? [] }],
    node: { id: init.nodeId, cluster: init.cluster ?? 'accord-test', locality: { region: 'r1', zone: 'z1' } },
    server_listener_resource_name_template: SERVER_LISTENER_TEMPLATE,
    ...(init.certDir
      ? {
          certificate_providers: {
            default: {
              plugin_name: 'file_watcher',
              config: {
                certificate_file: path.join(init.certDir, 'cert.pem'),
                private_key_file: path.join(init.certDir, 'key.pem'),
                ca_certificate_file: path.join(init.certDir, 'ca.pem'),
                refresh_interval: '1s',
              },
            },
          },
        }
      : {}),
  });
}

/** A port that was free a moment ago (xDS-enabled servers need a literal, non-zero port). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

export interface ServingState {
  address: string;
  code: number;
  details: string;
}

export type CallResult = { ok: true; reply: string } | { ok: false; code?: number; details?: string };

interface ChildReply {
  id?: number;
  ok?: boolean;
  ready?: boolean;
  event?: string;
  address?: string;
  reply?: string;
  code?: number;
  details?: string;
}

export class GrpcXdsClientProcess {
  private nextId = 1;
  private readonly pending = new Map<number, (r: ChildReply) => void>();
  private stderr = '';
  /** Serving-state changes of xDS-enabled servers in this process, oldest first. */
  readonly servingStates: ServingState[] = [];

  private constructor(private readonly child: ChildProcessWithoutNullStreams) {
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString()).slice(-20_000);
    });
  }

  /** Starts the child and waits until it says it is ready. */
  static async start(bootstrap: string, extraEnv: Record<string, string> = {}): Promise<GrpcXdsClientProcess> {
    const child = spawn(process.execPath, [CHILD], {
      env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrap, ...extraEnv },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const proc = new GrpcXdsClientProcess(child);
    await new Promise<void>((resolve, reject) => {
      // Loading grpc-js-xds takes seconds on a loaded two-core machine; this is an upper bound.
      const timer = setTimeout(() => reject(new Error(`xDS client child not ready in 30 s: ${proc.stderr}`)), 30_000);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`xDS client child exited (${code}) before ready: ${proc.stderr}`));
      });
      createInterface({ input: child.stdout }).on('line', (line) => {
        const msg = JSON.parse(line) as ChildReply;
        if (msg.ready) {
          clearTimeout(timer);
          resolve();
          return;
        }
        if (msg.event === 'serving') {
          proc.servingStates.push({ address: msg.address ?? '', code: msg.code ?? -1, details: msg.details ?? '' });
          return;
        }
        if (msg.id !== undefined) {
          const done = proc.pending.get(msg.id);
          proc.pending.delete(msg.id);
          done?.(msg);
        }
      });
    });
    return proc;
  }

  /** One unary RPC to `target` (e.g. `xds:///echo`) made by the child. */
  call(target: string, timeoutMs = 2000): Promise<CallResult> {
    const id = this.nextId++;
    return new Promise<CallResult>((resolve) => {
      this.pending.set(id, (r) => resolve(r.ok ? { ok: true, reply: r.reply ?? '' } : { ok: false, code: r.code, details: r.details }));
      this.child.stdin.write(`${JSON.stringify({ id, op: 'call', target, timeoutMs })}\n`);
    });
  }

  /**
   * Starts an xDS-enabled gRPC server (answering every call with `name`) on `address`, a literal
   * IP:port. Resolves when bindAsync reports success, which happens only once a valid Listener
   * for that address has arrived.
   */
  serve(address: string, name: string, timeoutMs = 20_000): Promise<void> {
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`xDS server on ${address} not bound within ${timeoutMs} ms; states: ${JSON.stringify(this.servingStates)}`)), timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        if (r.ok) resolve();
        else reject(new Error(`serve ${address}: ${r.details}`));
      });
      this.child.stdin.write(`${JSON.stringify({ id, op: 'serve', address, name })}\n`);
    });
  }

  /** Calls until `accept` says yes or `timeoutMs` passes; returns every result seen. */
  async callUntil(target: string, accept: (r: CallResult) => boolean, timeoutMs = 20_000): Promise<CallResult[]> {
    const seen: CallResult[] = [];
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.call(target, Math.min(2000, Math.max(100, deadline - Date.now())));
      seen.push(r);
      if (accept(r)) return seen;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`no accepted result for ${target} within ${timeoutMs} ms; last: ${JSON.stringify(seen.slice(-3))}; child stderr: ${this.stderr.slice(-2000)}`);
  }

  get diagnostics(): string {
    return this.stderr;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}

const raw = (b: Buffer): Buffer => b;

export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Who: {
    path: '/accord.test.Echo/Who',
    requestStream: false,
    responseStream: false,
    requestSerialize: raw,
    requestDeserialize: raw,
    responseSerialize: raw,
    responseDeserialize: raw,
  },
};

/** A plain grpc-js backend on 127.0.0.1:0 that answers every call with its name. */
export class EchoBackend {
  private constructor(
    private readonly server: grpc.Server,
    readonly name: string,
    readonly port: number,
    private readonly counter: { calls: number },
  ) {}

  static async start(name: string): Promise<EchoBackend> {
    const server = new grpc.Server();
    const counter = { calls: 0 };
    server.addService(ECHO_SERVICE, {
      Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        counter.calls++;
        callback(null, Buffer.from(name));
      },
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    return new EchoBackend(server, name, port, counter);
  }

  get calls(): number {
    return this.counter.calls;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}
