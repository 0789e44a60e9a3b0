/**
 * Real Envoy is the judge of every golden scenario: each Envoy-flavour proxy of test/golden/*
 * gets its resources from the real Accord (registry, CA, translator, xDS) over ADS, once over
 * state-of-the-world and once over Delta, and must accept all of them: nothing rejected, every
 * listener active, every cluster and secret warmed, and what Envoy holds is what the golden file
 * says.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse } from 'yaml';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { spiffeId } from '../../src/core/workload.js';
import { loadScenarioFile, type Scenario } from '../mesh/support/scenario.js';
import { api, type TestAccord } from '../app/harness.js';
import { ENVOY_TEST_TIMEOUT_MS, ENVOY_WAIT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { waitFor } from '../e2e/processes.js';
import type { DumpView } from '../support/envoy-dump.js';
import { ProtoCanonicalizer, differences, missingFrom } from '../support/proto-canonical.js';
import { envoyBootstrapFor, startScenarioAccord } from '../support/scenario-accord.js';
import { relocateResources, relocateScenario, relocationFor, type PortMap } from '../support/relocate-ports.js';

const GOLDEN = path.resolve(import.meta.dirname, '../golden');
const SECTIONS = [
  ['listeners', TypeUrl.Listener],
  ['routes', TypeUrl.RouteConfiguration],
  ['clusters', TypeUrl.Cluster],
  ['endpoints', TypeUrl.ClusterLoadAssignment],
] as const;
const MODES = ['sotw', 'delta'] as const;
type Mode = (typeof MODES)[number];

type GoldenProxy = Partial<Record<(typeof SECTIONS)[number][0], Record<string, Record<string, unknown>>>>;

interface GoldenScenario {
  readonly name: string;
  readonly scenario: Scenario;
  /** `envoy/<workload>` → its resources as out.yaml holds them. */
  readonly expected: ReadonlyMap<string, GoldenProxy>;
}

function goldenScenarios(): GoldenScenario[] {
  return readdirSync(GOLDEN, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(path.join(GOLDEN, entry.name, 'in.yaml')))
    .map((entry) => {
      const dir = path.join(GOLDEN, entry.name);
      const out = parse(readFileSync(path.join(dir, 'out.yaml'), 'utf8')) as Record<string, GoldenProxy>;
      return { name: entry.name, scenario: loadScenarioFile(path.join(dir, 'in.yaml')), expected: new Map(Object.entries(out)) };
    })
    .filter((golden) => golden.scenario.proxies.some((proxy) => proxy.flavour === 'envoy'))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** Names of the SDS secrets a proxy's resources refer to (every `{ name, sds_config }`). */
function referencedSecrets(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) referencedSecrets(item, into);
  else if (value !== null && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object.name === 'string' && object.sds_config !== undefined) into.add(object.name);
    for (const child of Object.values(object)) referencedSecrets(child, into);
  }
  return into;
}

function expectedNames(golden: GoldenProxy): Record<string, string[]> {
  const names: Record<string, string[]> = {};
  for (const [section, typeUrl] of SECTIONS) names[typeUrl] = Object.keys(golden[section] ?? {});
  // Envoy's endpoint dump lists the host set of every dynamic cluster, EDS or not.
  names[TypeUrl.ClusterLoadAssignment] = Object.keys(golden.clusters ?? {});
  names[TypeUrl.Secret] = [...referencedSecrets(golden)].sort();
  return names;
}

interface ProxyRow {
  nodeId: string;
  types: { typeUrl: string; mode: string; resources: { name: string; status: string }[]; lastNack?: { errorDetail: string } }[];
}

/**
 * Gateway workloads read their user certificates from files on their host: give each one a fresh
 * directory holding a self-signed pair for every certificate its Gateway names.
 */
function withGatewayCertificates(scenario: Scenario, directories: string[]): Scenario {
  const workloads = new Map(scenario.input.workloads);
  for (const [id, workload] of workloads) {
    if (workload.gateway === undefined) continue;
    const root = mkdtempSync(path.join(tmpdir(), 'accord-golden-certs-'));
    directories.push(root);
    const gateway = scenario.input.policies.gateways.find((g) => g.metadata.namespace === workload.namespace && g.metadata.name === workload.service);
    for (const ref of (gateway?.spec.listeners ?? []).flatMap((listener) => listener.tls?.certificateRefs ?? [])) {
      const dir = path.join(root, ref.namespace, ref.name);
      mkdirSync(dir, { recursive: true });
      execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${ref.name}`,
        '-keyout', path.join(dir, 'tls.key'), '-out', path.join(dir, 'tls.crt')], { stdio: 'ignore' });
    }
    workloads.set(id, { ...workload, gateway: { certificateDirectory: root } });
  }
  return { ...scenario, input: { ...scenario.input, workloads } };
}

const canonicalizer = new ProtoCanonicalizer(loadEnvoyProtos());
vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

describe.each(goldenScenarios())('golden scenario $name through real Envoy', ({ name, scenario, expected }) => {
  const fleet = useEnvoyFleet();
  const proxies = scenario.proxies.filter((proxy) => proxy.flavour === 'envoy').map((proxy) => proxy.workload);
  let accord: TestAccord;
  const envoys = new Map<string, TestEnvoy>();
  const synced = new Map<string, DumpView>();

  let ports: PortMap;
  const certificateDirectories: string[] = [];

  beforeAll(async () => {
    ports = await relocationFor(scenario);
    accord = await startScenarioAccord(withGatewayCertificates(relocateScenario(scenario, ports), certificateDirectories));
    await Promise.all(
      proxies.flatMap((workload) =>
        MODES.map(async (mode) => {
          const bootstrap = await envoyBootstrapFor(accord, workload, { delta: mode === 'delta' });
          envoys.set(`${workload}/${mode}`, await fleet.start(`${name}-${workload}-${mode}`, bootstrap));
        }),
      ),
    );
  });
  afterAll(async () => {
    await fleet.stopAll();
    await accord?.close();
    for (const dir of certificateDirectories) rmSync(dir, { recursive: true, force: true });
  });

  describe.each(proxies)('%s', (workload) => {
    const golden = (): GoldenProxy => {
      const proxy = expected.get(`envoy/${workload}`);
      if (!proxy) throw new Error(`${name}/out.yaml has no envoy/${workload}`);
      return relocateResources(proxy, ports);
    };

    it.each(MODES)('%s: every resource accepted, listeners active, clusters and secrets warmed', async (mode: Mode) => {
      const envoy = envoys.get(`${workload}/${mode}`)!;
      const view = await envoy.waitUntilSynced(expectedNames(golden()));
      synced.set(`${workload}/${mode}`, view);
      expect(await envoy.rejectedUpdates()).toEqual({});
      expect(envoy.rejectionsInLog()).toEqual([]);
      // The mesh certificate Envoy serves with is this workload's, from Accord's CA (a gateway's user certificates carry no URI).
      const identity = scenario.input.workloads.get(workload)!;
      const uris = (await envoy.admin.certs()).flatMap((cert) =>
        (cert.cert_chain ?? []).flatMap((c) => (c.subject_alt_names ?? []).flatMap((san) => (san.uri === undefined ? [] : [san.uri]))),
      );
      expect(new Set(uris)).toEqual(new Set([spiffeId(scenario.input.policies.mesh.trustDomain, identity.namespace, identity.serviceAccount)]));
    });

    it.each(MODES)('%s: config_dump holds what out.yaml says', async (mode: Mode) => {
      const view = synced.get(`${workload}/${mode}`) ?? (await envoys.get(`${workload}/${mode}`)!.dump());
      const problems: string[] = [];
      for (const [section, typeUrl] of SECTIONS) {
        for (const [resourceName, resource] of Object.entries(golden()[section] ?? {})) {
          const dumped = view.active.get(typeUrl)?.get(resourceName);
          if (!dumped) {
            problems.push(`${section} ${resourceName}: not in the config dump`);
            continue;
          }
          const want = canonicalizer.canonical(typeUrl, resource);
          const have = canonicalizer.canonical(typeUrl, dumped.resource);
          // Envoy prints endpoints from its host sets, not the message it received, adding
          // defaults (per-endpoint weights, overprovisioning factor): those must hold the golden.
          const diff = typeUrl === TypeUrl.ClusterLoadAssignment ? missingFrom(want, have) : differences(want, have);
          problems.push(...diff.map((line) => `${section} ${resourceName}${line}`));
        }
      }
      expect(problems).toEqual([]);
    });
  });

  it('Accord saw every resource ACKed by every stream, and no NACK', async () => {
    const notAcked = (rows: ProxyRow[]): string[] =>
      rows.flatMap((row) =>
        row.types.flatMap((type) => [
          ...(type.lastNack ? [`${row.nodeId} ${type.mode} ${type.typeUrl}: NACK ${type.lastNack.errorDetail}`] : []),
          ...type.resources.filter((r) => r.status !== 'ACKED').map((r) => `${row.nodeId} ${type.mode} ${r.name}: ${r.status}`),
        ]),
      );
    // An ACK reaches Accord a moment after Envoy applied the response: wait for the last ones.
    const rows = await waitFor(
      async () => {
        const { proxies: current } = (await api(accord, 'GET', '/v1/proxies')).body as { proxies: ProxyRow[] };
        const problems = notAcked(current);
        if (problems.some((problem) => problem.includes('NACK'))) return current;
        if (problems.length > 0) throw new Error(problems.join('; '));
        return current;
      },
      ENVOY_WAIT_MS,
      'every resource ACKed',
    );
    expect(notAcked(rows)).toEqual([]);
    expect(rows.map((row) => row.nodeId).sort()).toEqual(proxies.flatMap((workload) => MODES.map(() => workload)).sort());
    expect(rows.flatMap((row) => row.types.map((type) => type.mode)).sort()).toContain('delta');
  });
});
