/**
 * Real Envoy sidecars for the benchmarks: the Envoy the tests use (ENVOY_BIN, .tools/venv,
 * PATH), an `accord serve` to configure them, workloads registered over its HTTP API, and
 * sidecars started from each workload's `accord bootstrap`. Everything started is stopped by
 * `stop()` (and killed if the process exits first).
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { EnvoyProcess, findEnvoy, howToGetEnvoy, projectRootFrom, type EnvoyBinary } from '../../src/envoy/index.js';
import { AccordProcess } from './accord-process.js';

export function benchEnvoyBinary(): EnvoyBinary {
  const lookup = findEnvoy(projectRootFrom(import.meta.dirname));
  if (!lookup.found) throw new Error(howToGetEnvoy(lookup.pinned));
  return lookup.binary;
}

/** Resident set size of a process in MB (VmRSS from /proc); NaN for no process. */
export function rssMb(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const kb = Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  return kb / 1024;
}

/** The soft and hard limit on open files of a process. */
export function openFileLimit(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const line = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').find((l) => l.startsWith('Max open files')) ?? '';
  const [soft, hard] = line.replace('Max open files', '').trim().split(/\s+/).map((v) => (v === 'unlimited' ? Infinity : Number(v)));
  return { soft: soft ?? NaN, hard: hard ?? NaN };
}

export interface WorkloadBody {
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly meshPort?: number;
  readonly protocol?: string;
  readonly upstreams?: readonly { service: string; localPort: number }[];
}

export class BenchMesh {
  readonly envoys: EnvoyProcess[] = [];
  private readonly onExit = (): void => {
    for (const envoy of this.envoys) envoy.kill();
    this.accord.kill9();
  };

  private constructor(
    readonly binary: EnvoyBinary,
    readonly accord: AccordProcess,
    readonly dir: string,
    readonly caBundle: string,
  ) {
    process.once('exit', this.onExit);
  }

  static async start(serveArgs: string[] = [], env: NodeJS.ProcessEnv = {}): Promise<BenchMesh> {
    const binary = benchEnvoyBinary();
    const dir = await mkdtemp(path.join(tmpdir(), 'accord-bench-envoy-'));
    const accord = await AccordProcess.start(serveArgs, { ACCORD_LOG_LEVEL: 'warn', ...env });
    const caBundle = path.join(dir, 'ca.pem');
    const bundle = await fetch(`${accord.http}/v1/ca/bundle`);
    const { writeFile } = await import('node:fs/promises');
    await writeFile(caBundle, await bundle.text());
    return new BenchMesh(binary, accord, dir, caBundle);
  }

  async register(body: WorkloadBody): Promise<string> {
    const reply = await this.accord.request('POST', '/v1/workloads', body);
    if (reply.status !== 201) throw new Error(`registering ${body.service}: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
    return (reply.body as { id: string }).id;
  }

  /** Applies policy documents (a JSON array of them). */
  async apply(documents: readonly unknown[]): Promise<void> {
    const reply = await this.accord.request('POST', '/v1/policies:apply?allowUnknownTargets=true', documents);
    if (reply.status >= 300) throw new Error(`applying policies: HTTP ${reply.status} ${JSON.stringify(reply.body)}`);
  }

  /** What `accord bootstrap --format envoy` prints for the workload, as an object. */
  async bootstrap(workloadId: string): Promise<Record<string, unknown>> {
    const query = new URLSearchParams({ format: 'envoy', caBundle: this.caBundle, xds: this.accord.xds });
    const reply = await fetch(`${this.accord.http}/v1/workloads/${encodeURIComponent(workloadId)}/bootstrap?${query}`, {
      headers: { authorization: `Bearer ${this.accord.env.ACCORD_API_TOKEN ?? ''}` },
    });
    const text = await reply.text();
    if (!reply.ok) throw new Error(`bootstrap of ${workloadId}: HTTP ${reply.status} ${text}`);
    return parse(text) as Record<string, unknown>;
  }

  async startEnvoy(name: string, bootstrap: Record<string, unknown>, extraArgs: string[] = []): Promise<EnvoyProcess> {
    const workDir = await mkdtemp(path.join(this.dir, `${name}-`));
    const envoy = await EnvoyProcess.start({ binary: this.binary.path, bootstrap, workDir, logLevel: 'warning', extraArgs, startTimeoutMs: 120_000 });
    this.envoys.push(envoy);
    return envoy;
  }

  async stop(): Promise<void> {
    await Promise.all(this.envoys.map((envoy) => envoy.stop()));
    await this.accord.stop();
    process.removeListener('exit', this.onExit);
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** A static TCP-proxy listener and its static cluster, to add to a bootstrap's `static_resources`. */
export function staticTcpProxy(name: string, listen: { address: string; port: number }, to: { address: string; port: number }): { listener: unknown; cluster: unknown } {
  return {
    listener: {
      name,
      address: { socket_address: { address: listen.address, port_value: listen.port } },
      filter_chains: [
        {
          filters: [
            {
              name: 'envoy.filters.network.tcp_proxy',
              typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: name, cluster: name },
            },
          ],
        },
      ],
    },
    cluster: {
      name,
      type: 'STATIC',
      connect_timeout: '5s',
      load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: to.address, port_value: to.port } } } }] }] },
    },
  };
}

/** The bootstrap with extra static listeners and clusters. */
export function withStatic(bootstrap: Record<string, unknown>, extra: readonly { listener: unknown; cluster: unknown }[]): Record<string, unknown> {
  const existing = (bootstrap.static_resources ?? {}) as { listeners?: unknown[]; clusters?: unknown[] };
  return {
    ...bootstrap,
    static_resources: {
      ...existing,
      listeners: [...(existing.listeners ?? []), ...extra.map((e) => e.listener)],
      clusters: [...(existing.clusters ?? []), ...extra.map((e) => e.cluster)],
    },
  };
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

