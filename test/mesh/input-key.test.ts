import { describe, expect, it } from 'vitest';
import { MeshTranslator, type Flavour, type MeshInput, type ProxyResources } from '../../src/mesh/index.js';
import type { Workload } from '../../src/core/workload.js';
import { MapBuilder } from '../../src/registry/persistent-map.js';
import { scenarioFrom, type ScenarioFile, type ScenarioWorkload } from './support/scenario.js';

/**
 * Soundness of the cache key (istio#46081 is what a missed input looks like): for many single
 * changes to a rich scenario, every proxy whose inputKey did not change must get exactly the
 * resources a fresh translator produces from the changed input.
 */

const base: ScenarioFile = {
  mesh: { trustDomain: 'mesh.local', mtls: 'STRICT' },
  workloads: [
    { id: 'web-1', service: 'web', address: '10.0.0.1', port: 8080, meshPort: 15006, upstreams: [{ service: 'api', localPort: 9001 }, { service: 'db', localPort: 9002 }] },
    { id: 'web-2', service: 'web', address: '10.0.0.2', port: 8080, meshPort: 15006, upstreams: [{ service: 'api', localPort: 9001 }, { service: 'db', localPort: 9002 }] },
    { id: 'api-1', service: 'api', address: '10.0.1.1', port: 50051, meshPort: 15006, protocol: 'grpc', labels: { v: '1' }, locality: { region: 'eu', zone: 'a' } },
    { id: 'api-2', service: 'api', address: '10.0.1.2', port: 50051, meshPort: 15006, protocol: 'grpc', labels: { v: '2' }, locality: { region: 'eu', zone: 'b' } },
    { id: 'db-1', service: 'db', address: '10.0.2.1', port: 5432, meshPort: 15432, protocol: 'tcp' },
    { id: 'ops-1', service: 'ops', namespace: 'ops', address: '10.0.3.1', port: 8080, meshPort: 15006 },
  ],
  trafficPolicies: [
    {
      metadata: { name: 'api' },
      spec: {
        target: 'api',
        requestTimeoutMs: 1000,
        retries: { attempts: 2, retryOn: ['unavailable'] },
        split: [
          { name: 'one', labels: { v: '1' }, weight: 70 },
          { name: 'two', labels: { v: '2' }, weight: 30 },
        ],
      },
    },
  ],
  authorizationPolicies: [
    { metadata: { name: 'api-callers' }, spec: { target: 'api', action: 'ALLOW', rules: [{ from: [{ service: 'web' }, { namespace: 'ops' }] }] } },
    { metadata: { name: 'db-deny' }, spec: { target: 'db', action: 'DENY', rules: [{ from: [{ service: 'ops', namespace: 'ops' }] }] } },
  ],
  upstreamPolicies: [{ metadata: { name: 'ops-tools', namespace: 'ops' }, spec: { source: 'ops', upstreams: [{ service: 'api', namespace: 'default', localPort: 9100 }] } }],
};

type Mutation = readonly [string, (file: ScenarioFile) => ScenarioFile];

function editWorkload(id: string, change: Partial<ScenarioWorkload>): (file: ScenarioFile) => ScenarioFile {
  return (file) => ({ ...file, workloads: file.workloads?.map((w) => (w.id === id ? { ...w, ...change } : w)) });
}

const workloadMutations: Mutation[] = (base.workloads ?? []).flatMap((w): Mutation[] => [
  [`${w.id}.address`, editWorkload(w.id, { address: '10.9.9.9' })],
  [`${w.id}.address hostname`, editWorkload(w.id, { address: 'somewhere.internal' })],
  [`${w.id}.port`, editWorkload(w.id, { port: w.port + 1 })],
  [`${w.id}.meshPort`, editWorkload(w.id, { meshPort: 16000 })],
  [`${w.id}.protocol`, editWorkload(w.id, { protocol: w.protocol === 'tcp' ? 'http' : 'tcp' })],
  [`${w.id}.serviceAccount`, editWorkload(w.id, { serviceAccount: 'renamed' })],
  [`${w.id}.labels`, editWorkload(w.id, { labels: { v: '2' } })],
  [`${w.id}.locality`, editWorkload(w.id, { locality: { region: 'us' } })],
  [`${w.id}.health`, editWorkload(w.id, { health: 'UNHEALTHY' })],
  [`${w.id}.upstreams`, editWorkload(w.id, { upstreams: [{ service: 'ops', namespace: 'ops', localPort: 9003 }] })],
  [`${w.id} removed`, (file) => ({ ...file, workloads: file.workloads?.filter((x) => x.id !== w.id) })],
]);

const mutations: Mutation[] = [
  ...workloadMutations,
  ['new api workload', (f) => ({ ...f, workloads: [...(f.workloads ?? []), { id: 'api-3', service: 'api', address: '10.0.1.3', port: 50051, meshPort: 15006, protocol: 'grpc' }] })],
  ['new web workload with another SA', (f) => ({ ...f, workloads: [...(f.workloads ?? []), { id: 'web-3', service: 'web', serviceAccount: 'web-v2', address: '10.0.0.3', port: 8080 }] })],
  ['mesh trust domain', (f) => ({ ...f, mesh: { ...f.mesh, trustDomain: 'other.example' } })],
  ['mesh mtls', (f) => ({ ...f, mesh: { ...f.mesh, mtls: 'PERMISSIVE' } })],
  ['mesh ttl', (f) => ({ ...f, mesh: { ...f.mesh, certificates: { ttlMs: 7_200_000 } } })],
  ['mesh rotateAt', (f) => ({ ...f, mesh: { ...f.mesh, certificates: { rotateAt: 0.7 } } })],
  ['mesh debounce', (f) => ({ ...f, mesh: { ...f.mesh, debounce: { quietMs: 1, maxDelayMs: 2 } } })],
  ['traffic timeout', (f) => ({ ...f, trafficPolicies: f.trafficPolicies?.map((p) => ({ ...p, spec: { ...p.spec, requestTimeoutMs: 5 } })) })],
  ['traffic split weights', (f) => ({ ...f, trafficPolicies: f.trafficPolicies?.map((p) => ({ ...p, spec: { ...p.spec, split: [{ name: 'one', labels: { v: '1' }, weight: 1 }] } })) })],
  ['traffic lb', (f) => ({ ...f, trafficPolicies: f.trafficPolicies?.map((p) => ({ ...p, spec: { ...p.spec, loadBalancer: { type: 'LEAST_REQUEST' as const } } })) })],
  ['traffic policy for db', (f) => ({ ...f, trafficPolicies: [...(f.trafficPolicies ?? []), { metadata: { name: 'db' }, spec: { target: 'db', connectTimeoutMs: 10 } }] })],
  ['traffic policy in another namespace', (f) => ({ ...f, trafficPolicies: [...(f.trafficPolicies ?? []), { metadata: { name: 'api', namespace: 'ops' }, spec: { target: 'api', connectTimeoutMs: 10 } }] })],
  ['authz action', (f) => ({ ...f, authorizationPolicies: f.authorizationPolicies?.map((p) => ({ ...p, spec: { ...p.spec, action: 'DENY' as const } })) })],
  ['authz removed', (f) => ({ ...f, authorizationPolicies: [] })],
  ['authz for web', (f) => ({ ...f, authorizationPolicies: [...(f.authorizationPolicies ?? []), { metadata: { name: 'w' }, spec: { target: 'web', action: 'ALLOW', rules: [] } }] })],
  ['upstream policy removed', (f) => ({ ...f, upstreamPolicies: [] })],
  ['upstream policy for web', (f) => ({ ...f, upstreamPolicies: [...(f.upstreamPolicies ?? []), { metadata: { name: 'w' }, spec: { source: 'web', upstreams: [{ service: 'ops', namespace: 'ops', localPort: 9500 }] } }] })],
];

const proxies: readonly (readonly [string, Flavour])[] = (base.workloads ?? []).flatMap((w) => [
  [w.id, 'envoy'] as const,
  [w.id, 'grpc'] as const,
]);

function snapshot(resources: ProxyResources): unknown {
  return [...resources].map(([type, byName]) => [type, [...byName]]);
}

describe('inputKey', () => {
  it('never stays the same when a proxy’s resources change', () => {
    const translator = new MeshTranslator();
    const before = scenarioFrom(base).input;
    const keys = new Map(proxies.map(([id, flavour]) => [`${flavour}/${id}`, translator.inputKey(before, id, flavour)]));
    const original = new Map(proxies.map(([id, flavour]) => [`${flavour}/${id}`, snapshot(translator.translate(before, id, flavour))]));
    const misses: string[] = [];
    let unchangedKeys = 0;
    for (const [label, mutate] of mutations) {
      const after = scenarioFrom(mutate(base)).input;
      for (const [id, flavour] of proxies) {
        if (!after.workloads.has(id)) continue;
        const proxy = `${flavour}/${id}`;
        if (translator.inputKey(after, id, flavour) !== keys.get(proxy)) continue;
        unchangedKeys++;
        const fresh = snapshot(new MeshTranslator().translate(after, id, flavour));
        if (JSON.stringify(fresh) !== JSON.stringify(original.get(proxy))) misses.push(`${label}: ${proxy}`);
        // The memoised translator must agree with a fresh one.
        expect(snapshot(translator.translate(after, id, flavour))).toEqual(fresh);
      }
    }
    expect(misses).toEqual([]);
    // Most single changes leave most proxies alone: the key is not simply "everything".
    expect(unchangedKeys).toBeGreaterThan(mutations.length * 4);
  });
});

/**
 * Translates every proxy of `before` with a new translator, then checks each proxy of `after`: only
 * the workloads named as affected are re-translated on a change, so every other key must hold;
 * and the memoised translation must equal a fresh translator's. Problems go to `misses`.
 */
function checkChange(label: string, before: MeshInput, after: MeshInput, misses: string[]): { kept: number; affected: ReadonlySet<string> | 'all' } {
  const translator = new MeshTranslator();
  const keys = new Map<string, string>();
  for (const [id, flavour] of proxies) {
    keys.set(`${flavour}/${id}`, translator.inputKey(before, id, flavour));
    translator.translate(before, id, flavour);
  }
  const affected = translator.affectedWorkloads(before, after);
  let kept = 0;
  for (const [id, flavour] of proxies) {
    if (!after.workloads.has(id)) continue;
    const same = translator.inputKey(after, id, flavour) === keys.get(`${flavour}/${id}`);
    if (!same && affected !== 'all' && !affected.has(id)) misses.push(`${label}: ${flavour}/${id} changed but was not named as affected`);
    if (same) kept++;
    const fresh = snapshot(new MeshTranslator().translate(after, id, flavour));
    if (JSON.stringify(snapshot(translator.translate(after, id, flavour))) !== JSON.stringify(fresh)) misses.push(`${label}: ${flavour}/${id}`);
  }
  return { kept, affected };
}

/**
 * The registry publishes snapshots that keep every unchanged workload object (and policy set) as
 * is; the translator then keeps a proxy's key without re-hashing when none of the services it
 * depends on changed. For every workload change, a translator that saw the snapshot before must
 * agree with a fresh one on every proxy, whether the maps are plain or the registry's own.
 */
describe('inputKey across snapshots that share unchanged objects', () => {
  const sharing = (before: MeshInput, changed: MeshInput, makeMap: (entries: Iterable<[string, Workload]>) => ReadonlyMap<string, Workload>): MeshInput => {
    const entries: [string, Workload][] = [];
    for (const [id, workload] of changed.workloads) {
      const old = before.workloads.get(id);
      entries.push([id, old !== undefined && JSON.stringify(old) === JSON.stringify(workload) ? old : workload]);
    }
    return { revision: before.revision + 1, workloads: makeMap(entries), policies: before.policies };
  };
  const plain = (entries: Iterable<[string, Workload]>): ReadonlyMap<string, Workload> => new Map(entries);
  const persistent = (entries: Iterable<[string, Workload]>): ReadonlyMap<string, Workload> => {
    const builder = new MapBuilder<Workload>();
    for (const [id, workload] of entries) builder.set(id, workload);
    return builder.snapshot();
  };

  for (const [mapKind, makeMap] of [['plain maps', plain], ['persistent maps', persistent]] as const) {
    it(`gives every proxy what a fresh translator gives (${mapKind})`, () => {
      const base0 = scenarioFrom(base).input;
      const before: MeshInput = { ...base0, workloads: makeMap(base0.workloads) };
      let kept = 0;
      const misses: string[] = [];
      for (const [label, mutate] of [...workloadMutations, ...mutations.filter(([l]) => l.startsWith('new '))]) {
        kept += checkChange(label, before, sharing(before, scenarioFrom(mutate(base)).input, makeMap), misses).kept;
      }
      expect(misses).toEqual([]);
      // The point of sharing: most proxies keep their key through a single workload change.
      expect(kept).toBeGreaterThan(workloadMutations.length * 4);
    });
  }
});

/**
 * A policy change reaches the proxies that read the policy, not the whole mesh: a TrafficPolicy
 * the callers of its target, AuthorizationPolicies and UpstreamPolicies the workloads of their
 * service; mesh settings and Gateway API documents every proxy. Each mutated scenario's policies
 * are new objects (as the policy store gives), compared by content.
 */
describe('inputKey across policy changes', () => {
  const policyMutations = mutations.filter(([label]) => /^(mesh|traffic|authz|upstream policy)/.test(label));
  const expectedAffected: Record<string, readonly string[] | 'all'> = {
    'mesh trust domain': 'all',
    'traffic timeout': ['ops-1', 'web-1', 'web-2'],
    'traffic policy for db': ['web-1', 'web-2'],
    'traffic policy in another namespace': [],
    'authz action': ['api-1', 'api-2'], // db-deny was DENY already
    'authz for web': ['web-1', 'web-2'],
    'upstream policy removed': ['ops-1'],
    'upstream policy for web': ['web-1', 'web-2'],
  };

  it('names every proxy whose key changed, and the memoised translator agrees with a fresh one', () => {
    const before = scenarioFrom(base).input;
    let kept = 0;
    const misses: string[] = [];
    for (const [label, mutate] of policyMutations) {
      const after: MeshInput = { revision: before.revision + 1, workloads: before.workloads, policies: scenarioFrom(mutate(base)).input.policies };
      const checked = checkChange(label, before, after, misses);
      kept += checked.kept;
      const expected = expectedAffected[label];
      if (expected !== undefined) expect(checked.affected === 'all' ? 'all' : [...checked.affected].sort(), label).toEqual(expected);
    }
    expect(misses).toEqual([]);
    expect(kept).toBeGreaterThan(policyMutations.length * 4);
  });

  it('re-applying the same policies as new objects affects no proxy', () => {
    const translator = new MeshTranslator();
    const before = scenarioFrom(base).input;
    for (const [id, flavour] of proxies) translator.translate(before, id, flavour);
    const after: MeshInput = { revision: 2, workloads: before.workloads, policies: scenarioFrom(base).input.policies };
    expect(after.policies).not.toBe(before.policies);
    expect(translator.affectedWorkloads(before, after)).toEqual(new Set());
  });
});

/**
 * Proxies whose own inputs are unchanged and that a change reaches only through a service they
 * call take the new keys the first proxy that shared their old keys computed (input-keys.ts,
 * `followTransition`). Replicas in two regions have different keys while locality-aware balancing
 * is on (the default), share content-equal keys once a policy turns it off, and part again when a
 * policy turns it back on; a replica re-registered as a new object must not follow the others.
 */
describe('inputKey through a chain of snapshots that reach replicas only through a service they call', () => {
  const replica = (i: number, region: string): ScenarioWorkload => ({
    id: `web-${i}`,
    service: 'web',
    address: `10.0.0.${i}`,
    port: 8080,
    meshPort: 15006,
    locality: { region, zone: `${region}-a` },
    upstreams: [{ service: 'api', localPort: 9001 }],
  });
  const api = (i: number, region: string): ScenarioWorkload => ({ id: `api-${i}`, service: 'api', address: `10.0.1.${i}`, port: 8080, meshPort: 15006, locality: { region, zone: `${region}-a` } });
  const start: ScenarioFile = {
    mesh: { trustDomain: 'mesh.local', mtls: 'STRICT' },
    workloads: [replica(1, 'eu'), replica(2, 'us'), replica(3, 'eu'), replica(4, 'us'), api(1, 'eu'), api(2, 'us')],
  };
  const withApi = (file: ScenarioFile, workload: ScenarioWorkload): ScenarioFile => ({ ...file, workloads: [...(file.workloads ?? []), workload] });
  const localityOff: ScenarioFile['trafficPolicies'] = [{ metadata: { name: 'api' }, spec: { target: 'api', locality: { enabled: false } } }];
  const failover: ScenarioFile['trafficPolicies'] = [{ metadata: { name: 'api' }, spec: { target: 'api', locality: { enabled: true, failover: [{ from: 'eu', to: 'us' }] } } }];
  const files: ScenarioFile[] = [start, withApi(start, api(3, 'eu'))];
  files.push({ ...files[1], trafficPolicies: localityOff });
  files.push(withApi(files[2], api(4, 'us')));
  files.push({ ...files[3], trafficPolicies: failover });

  /** Each file as a snapshot that keeps the previous one's unchanged workload objects, except those named. */
  function chain(renew: ReadonlyMap<number, string>): MeshInput[] {
    const out: MeshInput[] = [];
    for (const [i, file] of files.entries()) {
      const input = scenarioFrom(file).input;
      const previous = out.at(-1);
      if (previous === undefined) {
        out.push(input);
        continue;
      }
      const workloads = new Map<string, Workload>();
      for (const [id, workload] of input.workloads) {
        const old = previous.workloads.get(id);
        const keep = old !== undefined && renew.get(i) !== id && JSON.stringify(old) === JSON.stringify(workload);
        workloads.set(id, keep ? old : workload);
      }
      const samePolicies = JSON.stringify(file.trafficPolicies ?? []) === JSON.stringify(files[i - 1]?.trafficPolicies ?? []);
      out.push({ revision: i + 1, workloads, policies: samePolicies ? previous.policies : input.policies });
    }
    return out;
  }

  for (const [label, renew] of [
    ['no workload renewed', new Map<number, string>()],
    ['web-1 re-registered as a new object as the policy arrives', new Map([[2, 'web-1']])],
  ] as const) {
    it(`agrees with a fresh translator at every step (${label})`, () => {
      const translator = new MeshTranslator();
      const replicas = ['web-1', 'web-2', 'web-3', 'web-4'];
      const keysAt: string[][] = [];
      for (const [step, input] of chain(renew).entries()) {
        // Visit in a different order each time, so each replica is sometimes the first of its group.
        const order = step % 2 === 0 ? replicas : [...replicas].reverse();
        const keys = new Map<string, string>();
        for (const id of order) {
          keys.set(id, translator.inputKey(input, id, 'envoy'));
          const fresh = new MeshTranslator().translate(input, id, 'envoy');
          expect(snapshot(translator.translate(input, id, 'envoy')), `step ${step}, ${id}`).toEqual(snapshot(fresh));
          expect(translator.inputKey(input, id, 'envoy'), `step ${step}, ${id}`).toBe(new MeshTranslator().inputKey(input, id, 'envoy'));
        }
        keysAt.push(replicas.map((id) => keys.get(id) ?? ''));
      }
      // web-1, web-3 in eu and web-2, web-4 in us: two keys, then one while locality is off, then two.
      const distinct = keysAt.map((keys) => new Set(keys).size);
      expect(distinct).toEqual([2, 2, 1, 1, 2]);
      for (const step of [0, 1, 4]) expect([keysAt[step]?.[0], keysAt[step]?.[1]], `step ${step}`).toEqual([keysAt[step]?.[2], keysAt[step]?.[3]]);
      expect(keysAt[3]?.[0]).not.toBe(keysAt[2]?.[0]);
    });
  }
});
