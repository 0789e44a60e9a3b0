/**
 * Many real Envoy sidecars on one control-plane replica: the time for one endpoint change to be
 * ACKed by all of them, and the control plane's RSS.
 *
 * N caller workloads (each with an outbound listener for payments) each get a real Envoy from its
 * `accord bootstrap`, all connected to one `accord serve`. A round registers one more payments
 * endpoint and times, from just before the POST, until every Envoy has ACKed the new version of
 * the `outbound.payments.default` endpoints (read from the control plane's ACK view,
 * GET /v1/proxies, polled every 20 ms). After the last round each Envoy's own config_dump must
 * hold the new endpoints (Envoy is the judge, not only the ACK). The limit measured in the same
 * run: the same round with a single Envoy connected, before the others start. The time includes
 * the registry's debounce (quiet 25 ms, at most 250 ms).
 * Flags: --quick (10 Envoys), --envoys N (default 50), --rounds R (default 3).
 */
import { loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { freePort } from './support/accord-process.js';
import { BenchMesh, percentile, rssMb } from './support/envoy-mesh.js';
import { argNumber } from './support/args.js';
import type { EnvoyProcess } from '../src/envoy/index.js';

const CLUSTER = 'outbound.payments.default';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const START_BATCH = 5;
const WAIT_MS = 300_000;

interface Proxy {
  nodeId: string;
  types: { typeUrl: string; resources: { name: string; version: string; status: string }[] }[];
}

/** Per node id, the ACKed version of the payments endpoints (undefined: not ACKed yet). */
async function ackedVersions(mesh: BenchMesh): Promise<Map<string, string | undefined>> {
  const { proxies } = (await mesh.accord.request('GET', '/v1/proxies')).body as { proxies: Proxy[] };
  const versions = new Map<string, string | undefined>();
  for (const proxy of proxies) {
    const resource = proxy.types.find((t) => t.typeUrl === EDS)?.resources.find((r) => r.name === CLUSTER);
    versions.set(proxy.nodeId, resource?.status === 'ACKED' ? resource.version : undefined);
  }
  return versions;
}

/** Waits until every node has ACKed some version; returns them. */
async function allAcked(mesh: BenchMesh, nodes: readonly string[]): Promise<Map<string, string>> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const versions = await ackedVersions(mesh);
    if (nodes.every((node) => versions.get(node) !== undefined)) return versions as Map<string, string>;
    if (Date.now() > deadline) throw new Error(`not every Envoy ACKed ${CLUSTER} within ${WAIT_MS} ms (${nodes.filter((n) => !versions.get(n)).length} missing)`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The longest GET /v1/proxies seen in a round: the resolution of the ACK times. */
let slowestPollMs = 0;

/**
 * One endpoint change; per node, ms from just before the POST until the end of the poll of the
 * ACK view that first showed its ACK of a new version (an upper bound, by at most one poll).
 */
async function round(mesh: BenchMesh, nodes: readonly string[], index: number, appPort: number): Promise<number[]> {
  const before = await allAcked(mesh, nodes);
  const times = new Map<string, number>();
  const started = performance.now();
  await mesh.register({ service: 'payments', address: `127.0.1.${index + 1}`, port: appPort, meshPort: 15006, protocol: 'tcp' });
  const deadline = Date.now() + WAIT_MS;
  while (times.size < nodes.length) {
    const pollStarted = performance.now();
    const versions = await ackedVersions(mesh);
    const now = performance.now() - started;
    slowestPollMs = Math.max(slowestPollMs, performance.now() - pollStarted);
    for (const node of nodes) {
      const version = versions.get(node);
      if (!times.has(node) && version !== undefined && version !== before.get(node)) times.set(node, now);
    }
    if (Date.now() > deadline) throw new Error(`${nodes.length - times.size} Envoys did not ACK the change within ${WAIT_MS} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return [...times.values()].sort((a, b) => a - b);
}

function median<T>(values: T[], key: (v: T) => number): T {
  return [...values].sort((a, b) => key(a) - key(b))[Math.floor(values.length / 2)] as T;
}

export async function run(argv: string[]): Promise<void> {
  const n = argv.includes('--quick') ? 10 : argNumber(argv, 'envoys', 50);
  const rounds = argNumber(argv, 'rounds', 3);
  const mesh = await BenchMesh.start();
  try {
    const appPort = await freePort();
    await mesh.register({ service: 'payments', address: '127.0.1.200', port: appPort, meshPort: 15006, protocol: 'tcp' });
    const nodes: string[] = [];
    const envoys: EnvoyProcess[] = [];
    const startOne = async (i: number): Promise<void> => {
      const [meshPort, outbound] = [await freePort(), await freePort()];
      const id = await mesh.register({ service: `caller-${i}`, address: '127.0.0.2', port: 1, meshPort, upstreams: [{ service: 'payments', localPort: outbound }] });
      envoys.push(await mesh.startEnvoy(`caller-${i}`, await mesh.bootstrap(id)));
      nodes.push(id);
    };
    await startOne(0);
    const single: number[][] = [];
    let changes = 0;
    for (let r = 0; r < rounds + 1; r++) {
      const times = await round(mesh, nodes, changes++, appPort);
      if (r > 0) single.push(times);
    }
    const rssBefore = rssMb(mesh.accord.pid);
    const startedAt = performance.now();
    for (let i = 1; i < n; i += START_BATCH) {
      await Promise.all(Array.from({ length: Math.min(START_BATCH, n - i) }, (_, k) => startOne(i + k)));
    }
    await allAcked(mesh, nodes);
    const startSeconds = (performance.now() - startedAt) / 1000;
    const singlePollMs = slowestPollMs;
    slowestPollMs = 0;
    const fleet: number[][] = [];
    for (let r = 0; r < rounds + 1; r++) {
      const times = await round(mesh, nodes, changes++, appPort);
      if (r > 0) fleet.push(times);
    }
    const controlPlaneRss = rssMb(mesh.accord.pid);
    const envoyRss = envoys.map((e) => rssMb(e.pid)).sort((a, b) => a - b);
    // Envoy is the judge: every one holds the last endpoint added.
    const lastAddress = `127.0.1.${changes}`;
    let holding = 0;
    for (const envoy of envoys) {
      const dump = JSON.stringify(await envoy.admin.configDump({ includeEds: true, resource: 'dynamic_endpoint_configs' }));
      if (dump.includes(`"${lastAddress}"`)) holding++;
    }
    const rejected = (await Promise.all(envoys.map(async (e) => [...(await e.admin.stats('update_rejected$')).values()].reduce((a, b) => a + b, 0)))).reduce((a, b) => a + b, 0);

    const pick = (runs: number[][]): number[] => median(runs, (t) => t.at(-1) ?? NaN);
    const one = pick(single);
    const all = pick(fleet);
    const fmt = (v: number): string => `${v.toFixed(1)} ms`;
    const limitMax = one.at(-1) ?? NaN;
    const allMax = all.at(-1) ?? NaN;
    console.log(`envoy-fleet: ${n} real Envoy ${mesh.binary.version} sidecars (one worker each) on one control-plane replica; ${rounds} measured rounds, median round shown`);
    console.log(`started ${n - 1} more Envoys in ${startSeconds.toFixed(1)} s (${START_BATCH} at a time)`);
    console.log('| connected Envoys | ACKed by all: p50 | p99 | max |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| 1 (limit) | ${fmt(percentile(one, 50))} | ${fmt(percentile(one, 99))} | ${fmt(limitMax)} |`);
    console.log(`| ${n} | ${fmt(percentile(all, 50))} | ${fmt(percentile(all, 99))} | ${fmt(allMax)} |`);
    console.log(`ratio (max with ${n} / max with 1): ${(allMax / limitMax).toFixed(2)}; every round's max with ${n}: ${fleet.map((t) => fmt(t.at(-1) ?? NaN)).join(', ')}`);
    console.log(`resolution: one GET /v1/proxies took up to ${fmt(singlePollMs)} with 1 Envoy, ${fmt(slowestPollMs)} with ${n} (polled every 20 ms; times are upper bounds)`);
    console.log(`Envoys whose own config_dump holds the last endpoint: ${holding}/${n}; rejected updates: ${rejected}`);
    console.log(`control plane RSS: ${rssBefore.toFixed(1)} MB with 1 Envoy, ${controlPlaneRss.toFixed(1)} MB with ${n}; Envoy RSS median ${percentile(envoyRss, 50).toFixed(1)} MB, max ${(envoyRss.at(-1) ?? NaN).toFixed(1)} MB`);
    console.log(
      JSON.stringify({
        bench: 'envoy-fleet',
        envoy: mesh.binary.version,
        envoys: n,
        single: { p50: percentile(one, 50), max: limitMax },
        fleet: { p50: percentile(all, 50), p99: percentile(all, 99), max: allMax, rounds: fleet.map((t) => t.at(-1)) },
        ratio: allMax / limitMax,
        holding,
        rejected,
        slowestPollMs: { one: singlePollMs, all: slowestPollMs },
        controlPlaneRssMb: { one: rssBefore, all: controlPlaneRss },
        envoyRssMbMedian: percentile(envoyRss, 50),
        startSeconds,
        loadavg: loadavg()[0],
      }),
    );
    if (holding !== n || rejected > 0) process.exitCode = 1;
  } finally {
    await mesh.stop();
  }
}
