/**
 * deploy/grafana/accord-dashboard.json queries only metrics a running `accord serve` exports, in
 * valid PromQL; and those metrics carry what they promise on a real process: an agent's
 * certificate counts as issued and shows in the expiry histogram and minimum, policy changes count
 * as accepted or rejected, the rotation phase is one-hot, proxies are counted per sync state.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parser } from '@prometheus-io/lezer-promql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ack } from '../support/ads-client.js';
import { AccordProcess, OPERATOR_TOKEN, freePort, waitFor } from '../e2e/processes.js';
import { CLI, runCli, type CliResult } from '../cli/run-cli.js';
import { ROOT } from './helm.js';

interface Panel {
  title: string;
  targets: { expr: string }[];
}
const DASHBOARD = path.join(ROOT, 'deploy/grafana/accord-dashboard.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; uid: string; panels: Panel[] };

function selectedMetrics(expr: string): { metrics: string[]; error?: string } {
  const tree = parser.parse(expr);
  const metrics: string[] = [];
  let error: string | undefined;
  tree.iterate({
    enter(node) {
      if (node.type.isError) error ??= `syntax error at ${node.from}`;
      if (node.name === 'Identifier' && node.node.parent?.name === 'VectorSelector') metrics.push(expr.slice(node.from, node.to));
    },
  });
  return { metrics, error };
}

/** The value of one sample line `name{labels} value` (labels as written by prom-client), or undefined. */
function sample(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels ? `{${labels}}` : ''} `));
  if (line === undefined) return undefined;
  const value = line.slice(line.lastIndexOf(' ') + 1);
  return value === '+Inf' ? Number.POSITIVE_INFINITY : Number(value);
}

describe('Grafana dashboard and the metrics behind it', () => {
  let server: AccordProcess;
  let dir: string;
  let client: XdsTestClient | undefined;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN });
  const metrics = async (): Promise<string> => (await fetch(`${server.http}/metrics`)).text();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-grafana-'));
    server = await AccordProcess.start([]);
  }, 60_000);
  afterAll(async () => {
    client?.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('every panel query parses and selects only metrics on /metrics', async () => {
    const text = await metrics();
    const exported = new Set<string>();
    for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      const [, name = '', type] = match;
      exported.add(name);
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exported.add(`${name}${suffix}`);
    }
    expect(dashboard).toMatchObject({ title: 'Accord mesh', uid: 'accord-mesh' });
    const problems: string[] = [];
    const used = new Set<string>();
    for (const panel of dashboard.panels) {
      if (panel.targets.length === 0) problems.push(`${panel.title}: no query`);
      for (const { expr } of panel.targets) {
        const { metrics: names, error } = selectedMetrics(expr);
        if (error) problems.push(`${panel.title}: ${error}`);
        for (const name of names) {
          used.add(name);
          if (!exported.has(name)) problems.push(`${panel.title}: ${name} is not on /metrics`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect([...used]).toEqual(
      expect.arrayContaining([
        'accord_workload_certificate_expiry_seconds_bucket',
        'accord_workload_certificate_expiry_min_seconds',
        'accord_certificate_issued_total',
        'accord_policy_changes_total',
        'accord_ca_root_rotation_phase',
        'accord_proxy_sync',
      ]),
    );
    expect(exported.has('accord_proxy_synk')).toBe(false);
  }, 30_000);

  it('the metrics count agent certificates, expiry, policy changes, the rotation phase and proxies per sync state', async () => {
    const before = await metrics();
    expect(sample(before, 'accord_ca_root_rotation_phase', 'phase="none"')).toBe(1);
    expect(sample(before, 'accord_ca_root_rotation_phase', 'phase="P1_ADD_TRUST"')).toBe(0);
    expect(sample(before, 'accord_workload_certificate_expiry_min_seconds')).toBe(Number.POSITIVE_INFINITY);

    // An agent's certificate (CSR over HTTP) is counted as issued.
    const registered = JSON.parse((await cli(['register', '--service', 'metered', '--address', '127.0.0.1', '--port', String(await freePort()), '--protocol', 'grpc', '-o', 'json'])).stdout) as { id: string; token: string };
    const env = { ...process.env };
    delete env.ACCORD_API_TOKEN;
    const agent = spawn(process.execPath, [CLI, 'agent', '--token', registered.token, '--server', server.http, '--xds', server.xds, '--out', dir, '--listen', '127.0.0.1:0'], { env, stdio: 'ignore' });
    const exited = new Promise((resolve) => agent.once('exit', resolve));
    try {
      await waitFor(async () => (existsSync(path.join(dir, 'cert.pem')) ? true : undefined), 30_000, 'the agent certificate');
    } finally {
      agent.kill('SIGTERM');
      await exited;
    }
    const afterAgent = await metrics();
    expect(sample(afterAgent, 'accord_certificate_issued_total', 'result="issued"')).toBe(1);
    expect(sample(afterAgent, 'accord_workload_certificate_expiry_seconds_count')).toBe(1);
    const min = sample(afterAgent, 'accord_workload_certificate_expiry_min_seconds') ?? 0;
    // The default leaf lifetime is 24 h.
    expect(min).toBeGreaterThan(23 * 3600);
    expect(min).toBeLessThanOrEqual(24 * 3600 + 60);
    expect(sample(afterAgent, 'accord_workload_certificate_expiry_seconds_bucket', 'le="86400"')).toBe(1);
    expect(sample(afterAgent, 'accord_workload_certificate_expiry_seconds_bucket', 'le="43200"')).toBe(0);

    // One accepted policy change, one rejected.
    const good = path.join(dir, 'good.yaml');
    await writeFile(good, 'apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: metered-timeouts }\nspec: { target: metered, connectTimeout: 2s }\n');
    expect((await cli(['apply', '-f', good])).code).toBe(0);
    const bad = await server.request('POST', '/v1/policies:apply', [{ apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'broken' }, spec: { target: 'metered', connectTimeout: 'soon' } }]);
    expect(bad.status).toBe(400);
    const afterPolicies = await metrics();
    expect(sample(afterPolicies, 'accord_policy_changes_total', 'result="accepted"')).toBe(1);
    expect(sample(afterPolicies, 'accord_policy_changes_total', 'result="rejected"')).toBe(1);

    // A proxy with CDS ACKed counts as SYNCED for CDS and NOT SENT for the rest.
    client = new XdsTestClient(server.xds, new XdsCodec(loadEnvoyProtos()), { metadata: { authorization: `Bearer ${registered.token}` } });
    const stream = client.sotw();
    stream.send({ node: { id: registered.id, user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Cluster, resource_names: [] });
    ack(stream, await stream.nextOfType(TypeUrl.Cluster, 10_000));
    const synced = await waitFor(
      async () => {
        const text = await metrics();
        return sample(text, 'accord_proxy_sync', 'type="CDS",state="SYNCED"') === 1 ? text : undefined;
      },
      20_000,
      'the proxy counted as SYNCED',
    );
    expect(sample(synced, 'accord_proxy_sync', 'type="LDS",state="NOT SENT"')).toBe(1);
    expect(sample(synced, 'accord_proxy_sync', 'type="CDS",state="NACKED"')).toBe(0);

    expect((await cli(['ca', 'rotate'])).code).toBe(0);
    const rotating = await metrics();
    expect(sample(rotating, 'accord_ca_root_rotation_phase', 'phase="none"')).toBe(0);
    const current = ['P0_PREPARE', 'P1_ADD_TRUST', 'P2_SWITCH_ISSUER', 'P3_REMOVE_TRUST', 'P4_RETIRED'].filter((phase) => sample(rotating, 'accord_ca_root_rotation_phase', `phase="${phase}"`) === 1);
    expect(current).toHaveLength(1);
  }, 120_000);
});
