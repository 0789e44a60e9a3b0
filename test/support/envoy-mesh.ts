/**
 * A whole mesh of real processes for the Envoy suites: two `accord serve --redis` replicas on
 * their own Redis prefix (or more), small HTTP and gRPC apps on 127.0.0.1, and for each workload its own
 * Envoy started from what `accord bootstrap --format envoy` prints (listing both replicas).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { Redis } from 'ioredis';
import { AccordProcess, CLI, OPERATOR_TOKEN } from '../e2e/processes.js';
import { syncProblems, type EnvoyFleet, type TestEnvoy } from './envoy.js';

export const MESH_REDIS = 'redis://127.0.0.1:6379';

/** An HTTP app: answers `<name>` and records who called (the XFCC header Envoy set). */
export class HttpApp {
  readonly callers: string[] = [];
  requests = 0;
  /** What the app answers; tests change it to make the app fail or slow. */
  behaviour: { status: number; delayMs: number } = { status: 200, delayMs: 0 };
  private constructor(
    readonly name: string,
    readonly port: number,
    private readonly server: Server,
  ) {}

  static async start(name: string, port: number): Promise<HttpApp> {
    const holder: { app?: HttpApp } = {};
    const server = createServer((req: IncomingMessage, res: ServerResponse) => holder.app!.answer(req, res));
    const app = new HttpApp(name, port, server);
    holder.app = app;
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return app;
  }

  private answer(req: IncomingMessage, res: ServerResponse): void {
    this.requests += 1;
    this.callers.push(String(req.headers['x-forwarded-client-cert'] ?? ''));
    if (this.callers.length > 1000) this.callers.splice(0, 500);
    const { status, delayMs } = this.behaviour;
    const delay = /^\/slow\/(\d+)$/.exec(req.url ?? '');
    setTimeout(
      () => {
        res.statusCode = status;
        res.end(this.name);
      },
      delay ? Number(delay[1]) : delayMs,
    );
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** A unary gRPC method without protobuf: raw bytes in and out. */
const RAW = {
  path: '/ledger.Ledger/Check',
  requestStream: false,
  responseStream: false,
  requestSerialize: (value: Buffer) => value,
  requestDeserialize: (value: Buffer) => value,
  responseSerialize: (value: Buffer) => value,
  responseDeserialize: (value: Buffer) => value,
} as const;

export class GrpcApp {
  calls = 0;
  private constructor(
    readonly port: number,
    private readonly server: grpc.Server,
  ) {}

  static async start(port: number): Promise<GrpcApp> {
    const server = new grpc.Server();
    const holder: { app?: GrpcApp } = {};
    server.addService({ Check: RAW } as grpc.ServiceDefinition, {
      Check: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        holder.app!.calls += 1;
        callback(null, Buffer.from('ledger'));
      },
    });
    await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (error) => (error ? reject(error) : resolve())));
    const app = new GrpcApp(port, server);
    holder.app = app;
    return app;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

/** One unary call to the ledger service through a plain-text local port: the reply, or the gRPC status code. */
export function callLedger(port: number): Promise<{ code: number; reply?: string; details?: string }> {
  const Client = grpc.makeGenericClientConstructor({ Check: RAW } as grpc.ServiceDefinition, 'Ledger');
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    (client as unknown as { Check: (req: Buffer, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r?: Buffer) => void) => void }).Check(
      Buffer.from('check'),
      { deadline: Date.now() + 10_000 },
      (error, reply) => {
        client.close();
        resolve(error ? { code: error.code, details: error.details } : { code: grpc.status.OK, reply: reply?.toString() });
      },
    );
  });
}

export interface Registered {
  readonly id: string;
  readonly token: string;
}

/** Replicas on one Redis prefix, and the Envoys of the workloads registered with them. */
export class EnvoyMeshHarness {
  readonly prefix = `accord-mesh-${randomBytes(4).toString('hex')}`;
  readonly replicas: AccordProcess[] = [];
  private caBundle = '';
  /** The workload token in each sidecar's bootstrap, by Envoy name. */
  private readonly tokens = new Map<string, string>();

  constructor(private readonly fleet: EnvoyFleet) {}

  /**
   * Starts the replicas (two unless told), one after the other. `env` is added to each replica's
   * environment (e.g. `ACCORD_SHUTDOWN_GRACE_MS: ''` for a real drained shutdown).
   */
  async start(serveArgs: readonly string[] = [], options: { replicas?: number; env?: NodeJS.ProcessEnv } = {}): Promise<void> {
    const args = ['--redis', MESH_REDIS, '--redis-prefix', this.prefix, ...serveArgs];
    // One first, so that the CA is created once; the others adopt it from the store.
    for (let i = 0; i < (options.replicas ?? 2); i += 1) this.replicas.push(await AccordProcess.start(args, options.env));
    this.caBundle = path.join(this.fleet.scratchDir('mesh-ca'), 'ca.pem');
    writeFileSync(this.caBundle, await (await fetch(`${this.replicas[0].http}/v1/ca/bundle`)).text());
  }

  get api(): AccordProcess {
    return this.replicas[0];
  }

  async register(body: Record<string, unknown>): Promise<Registered> {
    const response = await this.api.request('POST', '/v1/workloads', body);
    if (response.status !== 201) throw new Error(`registering ${JSON.stringify(body)}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
    return response.body as Registered;
  }

  /** Applies policy documents (per object); throws with Accord's answer if refused. */
  async apply(documents: readonly Record<string, unknown>[]): Promise<void> {
    const response = await this.api.request('POST', '/v1/policies:apply', documents);
    if (response.status !== 200) throw new Error(`apply: HTTP ${response.status} ${JSON.stringify(response.body)}`);
  }

  /** Runs the CLI (`accord …`) against the first replica. */
  cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ACCORD_SERVER: this.api.http, ACCORD_API_TOKEN: OPERATOR_TOKEN } }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  }

  /** The workload's Envoy, from `accord bootstrap --format envoy --xds <every replica>`; resolves once it is LIVE and synced. */
  async sidecar(name: string, workloadId: string, options: { delta?: boolean } = {}): Promise<TestEnvoy> {
    const file = path.join(this.fleet.scratchDir(`bootstrap-${name}`), 'envoy.yaml');
    const xds = this.replicas.map((r) => r.xds).join(',');
    const result = await this.cli(['bootstrap', '--workload', workloadId, '--format', 'envoy', '--ca-bundle', this.caBundle, '--xds', xds, ...(options.delta ? ['--delta'] : []), '--out', file]);
    if (result.code !== 0) throw new Error(`accord bootstrap for ${name}: ${result.stderr}`);
    const text = readFileSync(file, 'utf8');
    const token = /Bearer ([A-Za-z0-9._-]+)/.exec(text)?.[1];
    if (token) this.tokens.set(name, token);
    const envoy = await this.fleet.start(name, text);
    await waitSettled(envoy);
    return envoy;
  }

  /** The id (`jti`) of the workload token a sidecar's bootstrap carries. */
  bootstrapTokenId(name: string): string {
    const token = this.tokens.get(name);
    if (!token) throw new Error(`no bootstrap token for ${name}`);
    return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8')) as { jti: string }).jti;
  }

  /** Which replica holds the xDS stream of `nodeId` (its index), if any. */
  async replicaOf(nodeId: string): Promise<number | undefined> {
    for (const [index, replica] of this.replicas.entries()) {
      try {
        const { proxies } = (await replica.request('GET', '/v1/proxies')).body as { proxies: { nodeId: string }[] };
        if (proxies.some((p) => p.nodeId === nodeId)) return index;
      } catch {
        // a killed replica does not answer
      }
    }
    return undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.replicas.map((r) => r.stop()));
    const redis = new Redis(MESH_REDIS);
    const keys = [...(await redis.keys(`${this.prefix}*`)), ...(await redis.keys(`{${this.prefix}}*`))];
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
}

/** LIVE, connected to a control plane, nothing warming or in error, nothing rejected. */
export async function waitSettled(envoy: TestEnvoy): Promise<void> {
  await envoy.waitFor('LIVE, connected and settled', async () => {
    const rejected = await envoy.rejectedUpdates();
    if (Object.keys(rejected).length > 0) throw new Error(`rejected ${JSON.stringify(rejected)}: ${envoy.rejectionsInLog().join('\n')}`);
    if (!(await envoy.admin.ready()).live) throw new Error('not LIVE');
    const connected = (await envoy.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state');
    if (connected !== 1) throw new Error(`control_plane.connected_state=${connected}`);
    const problems = syncProblems(await envoy.dump(), {});
    if (problems.length > 0) throw new Error(problems.join('; '));
    return true;
  });
}

/** Polls `check` (every 100 ms) until it returns a value or `timeoutMs` passes. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${last})` : ''}`);
}
