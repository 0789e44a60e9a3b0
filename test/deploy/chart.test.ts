/**
 * The Helm charts in deploy/helm, rendered by the pinned Helm for the default values and a
 * production-like values file, then checked object by object: the Kubernetes API schemas (no
 * unknown fields), Pod Security `restricted`, images pinned by digest, and every command, flag,
 * environment variable and path against the CLI and the pod's own mounts.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServeOptions } from '../../src/app/options.js';
import { buildProgram } from '../../src/cli/program.js';
import { DYNAMIC, invocationProblems, knownEnvironment, shellCommands } from './cli-usage.js';
import { CHARTS, helmTemplate, render, type Manifest } from './helm.js';
import { schemaProblems } from './k8s-schema.js';
import { podSpecs, restrictedViolations, type Container, type PodSpec } from './pod-security.js';

const RENDERS: { name: string; chart: string; namespace: string; valuesFiles?: string[]; set?: Record<string, string> }[] = [
  { name: 'accord (default values)', chart: 'accord', namespace: 'accord-system' },
  { name: 'accord (production values)', chart: 'accord', namespace: 'accord-system', valuesFiles: [path.join(CHARTS, 'accord/values-production.yaml')] },
  { name: 'accord (registration tokens)', chart: 'accord', namespace: 'accord-system', set: { 'registrationTokens.existingSecret': 'accord-registration-tokens' } },
  { name: 'accord-example (default values)', chart: 'accord-example', namespace: 'default' },
  { name: 'accord-example (with upstreams)', chart: 'accord-example', namespace: 'shop', set: { 'upstreams[0]': 'payments:9001', 'upstreams[1]': 'billing.finance:9002' } },
];

const SHELLS = new Set(['sh', '/bin/sh', 'bash', '/bin/bash']);

interface Invocation {
  readonly words: string[];
  readonly where: string;
}

/** `accord ...` invocations of a container: its command/args, a `sh -c` script, its preStop hook. */
function invocations(container: Container): Invocation[] {
  const vars = new Map<string, string>();
  for (const env of container.env ?? []) vars.set(env.name, env.value ?? DYNAMIC);
  const found: Invocation[] = [];
  const fromArgv = (argv: readonly string[], where: string): void => {
    if (argv[0] === 'accord') found.push({ words: [...argv], where });
    else if (SHELLS.has(argv[0] ?? '') && argv[1] === '-c' && typeof argv[2] === 'string') {
      for (const words of shellCommands(argv[2], vars)) if (words[0] === 'accord') found.push({ words, where: `${where} (script)` });
    }
  };
  fromArgv([...(container.command ?? []), ...(container.args ?? [])], `container ${container.name}`);
  const preStop = container.lifecycle?.preStop?.exec?.command;
  if (preStop) fromArgv(preStop, `container ${container.name} preStop`);
  return found;
}

/** The volume behind a path in this container, and whether it is writable there. */
function mountOf(pod: PodSpec, container: Container, file: string): { mountPath: string; readOnly: boolean; volume: Record<string, unknown> } | undefined {
  const mount = (container.volumeMounts ?? [])
    .filter((m) => file === m.mountPath || file.startsWith(`${m.mountPath.replace(/\/$/, '')}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  const volume = (pod.volumes ?? []).find((v) => v.name === mount.name);
  return volume ? { mountPath: mount.mountPath, readOnly: mount.readOnly === true, volume } : undefined;
}

/** Paths a Secret/ConfigMap/projected volume puts in its directory (undefined: every key of it). */
function volumeFiles(volume: Record<string, unknown>): Set<string> | undefined {
  const items = (source: unknown): { path: string }[] | undefined => (source as { items?: { path: string }[] } | undefined)?.items;
  if (volume.secret || volume.configMap) {
    const list = items(volume.secret ?? volume.configMap);
    return list ? new Set(list.map((i) => i.path)) : undefined;
  }
  if (volume.projected) {
    const sources = (volume.projected as { sources: Record<string, unknown>[] }).sources;
    const files = new Set<string>();
    for (const source of sources) {
      const list = items(source.secret ?? source.configMap);
      if (!list) return undefined;
      for (const item of list) files.add(item.path);
    }
    return files;
  }
  return undefined;
}

/** Problems with a path the process reads (`file`) or writes in (`dir`) inside the container. */
function pathProblems(pod: PodSpec, container: Container, file: string, use: 'read-file' | 'read-dir' | 'write-dir' | 'write-file'): string[] {
  if (file.includes(DYNAMIC)) return [];
  const mount = mountOf(pod, container, file);
  const where = `container ${container.name}: ${file}`;
  if (!mount) return [`${where}: no volume is mounted there (the root filesystem is read-only)`];
  if (use.startsWith('write') && mount.readOnly) return [`${where}: written, but mounted read-only`];
  if (use === 'read-file' && mount.volume.emptyDir === undefined) {
    const files = volumeFiles(mount.volume);
    const relative = path.relative(mount.mountPath, file);
    if (files && !files.has(relative)) return [`${where}: the mounted volume has no item "${relative}" (it has ${[...files].join(', ')})`];
  }
  return [];
}

const PATH_FLAGS: Record<string, 'read-file' | 'read-dir' | 'write-dir' | 'write-file'> = {
  '--config': 'read-dir',
  '--data-dir': 'write-dir',
  '--ca-root': 'read-file',
  '--ca-cert': 'read-file',
  '--ca-key': 'read-file',
  '--token-file': 'read-file',
  '--out': 'write-file',
};

function flagValues(words: readonly string[]): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (!word.startsWith('--')) continue;
    const eq = word.indexOf('=');
    if (eq > 0) values.set(word.slice(0, eq), word.slice(eq + 1));
    else if (i + 1 < words.length && !(words[i + 1] as string).startsWith('--')) values.set(word, words[i + 1] as string);
    else values.set(word, 'true');
  }
  return values;
}

function camel(flag: string): string {
  return flag.replace(/^--/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

function selects(selector: { matchLabels?: Record<string, string> } | undefined, labels: Record<string, string>): boolean {
  return Object.entries(selector?.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
}

describe.each(RENDERS)('Helm chart: $name', ({ chart, namespace, valuesFiles, set }) => {
  const manifests = render(chart, { namespace, valuesFiles, set });
  const pods = podSpecs(manifests);

  it('renders objects, each valid against the Kubernetes API schema with no unknown field', async () => {
    expect(manifests.length).toBeGreaterThan(0);
    const problems = (await Promise.all(manifests.map((m) => schemaProblems(m)))).flat();
    expect(problems).toEqual([]);
  });

  it('runs every pod template under Pod Security "restricted", read-only root, numeric non-root user, requests and limits', () => {
    expect(pods.length).toBeGreaterThan(0);
    expect(pods.flatMap(({ owner, spec }) => restrictedViolations(owner, spec))).toEqual([]);
  });

  it('pins every image by digest', () => {
    const images = pods.flatMap(({ spec }) => [...(spec.initContainers ?? []), ...spec.containers].map((c) => c.image ?? ''));
    expect(images.length).toBeGreaterThan(0);
    for (const image of images) expect(image).toMatch(/@sha256:[0-9a-f]{64}$/);
  });

  it('uses only accord commands, flags, variables and paths the CLI and the pod provide', () => {
    const known = knownEnvironment();
    const problems: string[] = [];
    let count = 0;
    for (const { owner, spec } of pods) {
      for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
        const env = new Map((container.env ?? []).map((e) => [e.name, e.value ?? DYNAMIC]));
        for (const name of env.keys()) if (name.startsWith('ACCORD_') && !known.has(name)) problems.push(`${owner} ${container.name}: ${name} is read by no code`);
        for (const [name, value] of env) {
          if (name.endsWith('_FILE') && name.startsWith('ACCORD_')) problems.push(...pathProblems(spec, container, value, 'read-file'));
        }
        for (const { words, where } of invocations(container)) {
          count += 1;
          problems.push(...invocationProblems(words).map((p) => `${owner} ${where}: ${p}`));
          const flags = flagValues(words);
          for (const [flag, use] of Object.entries(PATH_FLAGS)) {
            const value = flags.get(flag);
            if (value !== undefined) problems.push(...pathProblems(spec, container, value, use).map((p) => `${owner}: ${p}`));
          }
          if (words[1] === 'serve') {
            // The options serve resolves from these flags and variables: values must be acceptable.
            const raw = Object.fromEntries([...flags].map(([flag, value]) => [camel(flag), value === 'true' ? true : value]));
            const environment = Object.fromEntries(env);
            expect(() => resolveServeOptions(raw, environment, () => 'file-content'), `${owner}: accord serve options`).not.toThrow();
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(count).toBeGreaterThan(0);
  });
});

describe('Helm chart accord: what keeps the control plane up', () => {
  for (const values of [undefined, path.join(CHARTS, 'accord/values-production.yaml')]) {
    const manifests = render('accord', { namespace: 'accord-system', valuesFiles: values ? [values] : [] });
    const label = values ? 'production values' : 'default values';
    const deployment = manifests.find((m) => m.kind === 'Deployment') as Manifest & { spec: { template: { metadata: { labels: Record<string, string> }; spec: PodSpec & Record<string, unknown> } } };
    const podLabels = deployment.spec.template.metadata.labels;
    const podSpec = deployment.spec.template.spec;
    const accord = podSpec.containers.find((c) => c.name === 'accord') as Container;
    const env = new Map((accord.env ?? []).map((e) => [e.name, e]));

    it(`${label}: probes: startup and liveness on /healthz, readiness on /readyz`, () => {
      const probe = (p: unknown): string | undefined => (p as { httpGet?: { path?: string } } | undefined)?.httpGet?.path;
      expect([probe(accord.startupProbe), probe(accord.livenessProbe), probe(accord.readinessProbe)]).toEqual(['/healthz', '/healthz', '/readyz']);
    });

    it(`${label}: the termination grace outlasts the drain, the 5 s close window and the 5 s in-flight grace`, () => {
      const drain = Number(env.get('ACCORD_DRAIN_SECONDS')?.value);
      expect(drain).toBeGreaterThanOrEqual(10);
      expect(podSpec.terminationGracePeriodSeconds as number).toBeGreaterThan(drain + 10);
    });

    it(`${label}: credentials are mounted files, never environment values or arguments`, () => {
      for (const e of accord.env ?? []) {
        expect(e.valueFrom, `${e.name} comes from a Secret`).toBeUndefined();
        expect(['ACCORD_API_TOKEN', 'ACCORD_CA_KEK', 'ACCORD_REDIS_PASSWORD']).not.toContain(e.name);
      }
      for (const arg of accord.args ?? []) expect(arg).not.toMatch(/\/\/[^/@]*:[^/@]*@/);
      expect(env.has('ACCORD_API_TOKEN_FILE') && env.has('ACCORD_CA_KEK_FILE')).toBe(true);
    });

    it(`${label}: spreads replicas over zones and nodes; a PDB and an HPA cover the Deployment`, () => {
      const constraints = podSpec.topologySpreadConstraints as { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
      expect(constraints.map((c) => c.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
      for (const c of constraints) expect(selects(c.labelSelector, podLabels)).toBe(true);
      const pdbs = manifests.filter((m) => m.kind === 'PodDisruptionBudget' && selects((m.spec as { selector: { matchLabels: Record<string, string> } }).selector, podLabels));
      expect(pdbs).toHaveLength(1);
      const hpa = manifests.find((m) => m.kind === 'HorizontalPodAutoscaler') as Manifest & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number } };
      expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
      expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(3);
      expect((deployment.spec as unknown as { strategy: { rollingUpdate: { maxUnavailable: number } } }).strategy.rollingUpdate.maxUnavailable).toBe(0);
    });

    it(`${label}: NetworkPolicy: only sidecars (and named API clients) reach the control plane; it reaches only Redis and DNS`, () => {
      type Peer = { podSelector?: { matchLabels?: Record<string, string> }; namespaceSelector?: unknown; ipBlock?: unknown };
      type Rule = { from?: Peer[]; to?: Peer[]; ports: { port: number }[] };
      const policies = manifests.filter((m) => m.kind === 'NetworkPolicy') as (Manifest & { spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: Rule[]; egress: Rule[] } })[];
      const own = policies.find((p) => selects(p.spec.podSelector, podLabels));
      expect(own?.spec.policyTypes).toEqual(['Ingress', 'Egress']);
      const xdsRules = (own?.spec.ingress ?? []).filter((r) => r.ports.some((p) => p.port === 18000));
      expect(xdsRules.length).toBeGreaterThan(0);
      for (const rule of xdsRules) {
        for (const peer of rule.from ?? []) expect(peer.podSelector?.matchLabels?.['accord.dev/sidecar']).toBe('true');
      }
      const egressPorts = (own?.spec.egress ?? []).flatMap((r) => r.ports.map((p) => p.port)).sort((a, b) => a - b);
      for (const port of egressPorts) expect([53, 6379, 6380, 26379]).toContain(port);
      const redisSet = manifests.find((m) => m.kind === 'StatefulSet') as (Manifest & { spec: { template: { metadata: { labels: Record<string, string> } } } }) | undefined;
      if (redisSet) {
        const redisLabels = redisSet.spec.template.metadata.labels;
        const redisPolicy = policies.find((p) => selects(p.spec.podSelector, redisLabels));
        expect(redisPolicy).toBeDefined();
        for (const rule of redisPolicy?.spec.ingress ?? []) {
          for (const peer of rule.from ?? []) {
            expect(peer.namespaceSelector).toBeUndefined();
            expect(selects(peer.podSelector, podLabels) || selects(peer.podSelector, redisLabels)).toBe(true);
          }
        }
      }
    });
  }

  it('accord-example registers with its namespace registration token and never sees the operator token', () => {
    const manifests = render('accord-example', { namespace: 'shop', valuesFiles: [] });
    const [pod] = podSpecs(manifests);
    expect(pod).toBeDefined();
    const spec = pod?.spec as PodSpec;
    const secrets = (spec.volumes ?? []).map((v) => (v as { secret?: { secretName?: string } }).secret?.secretName).filter(Boolean);
    expect(secrets).toEqual(['accord-registration-token']);
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      for (const e of container.env ?? []) if (e.name === 'ACCORD_API_TOKEN_FILE') expect(e.value).toBe('/var/run/accord/registration/token');
    }
    expect(JSON.stringify(manifests)).not.toMatch(/operator/i);
    const withTokens = render('accord', { namespace: 'accord-system', valuesFiles: [], set: { 'registrationTokens.existingSecret': 'accord-registration-tokens' } });
    const accord = podSpecs(withTokens)[0]?.spec.containers.find((c) => c.name === 'accord');
    expect(accord?.env?.find((e) => e.name === 'ACCORD_REGISTRATION_TOKEN_FILE')?.value).toBe('/etc/accord/registration/registration-tokens');
    expect(resolveServeOptions({}, { ACCORD_REGISTRATION_TOKEN_FILE: '/etc/accord/registration/registration-tokens' }).registrationTokenFile).toBe('/etc/accord/registration/registration-tokens');
  });

  it('the bundled Redis: three pods with a Sentinel each, AOF, a password, scripts that parse', () => {
    const manifests = render('accord', { namespace: 'accord-system' });
    const set = manifests.find((m) => m.kind === 'StatefulSet') as Manifest & { spec: { replicas: number; template: { spec: PodSpec } } };
    expect(set.spec.replicas).toBeGreaterThanOrEqual(3);
    expect(set.spec.template.spec.containers.map((c) => c.name).sort()).toEqual(['redis', 'sentinel']);
    const scripts = (manifests.find((m) => m.kind === 'ConfigMap' && m.metadata.name.endsWith('-scripts')) as Manifest & { data: Record<string, string> }).data;
    expect(scripts['redis.sh']).toContain('appendonly yes');
    expect(scripts['redis.sh']).toContain('requirepass');
    expect(scripts['sentinel.sh']).toContain('sentinel auth-pass');
    for (const [name, script] of Object.entries(scripts)) {
      const check = spawnSync('sh', ['-n'], { input: script, encoding: 'utf8' });
      expect(check.status, `${name}: ${check.stderr}`).toBe(0);
    }
    const deployment = manifests.find((m) => m.kind === 'Deployment') as Manifest & { spec: { template: { spec: PodSpec } } };
    const args = deployment.spec.template.spec.containers[0]?.args ?? [];
    expect(args[args.indexOf('--redis') + 1]).toMatch(/^redis-sentinel:\/\/([^,/]+:26379,){2}[^,/]+:26379\/mymaster$/);
  });

  it('refuses values that would deploy something unsafe or broken, saying which value', () => {
    const refused = (set: Record<string, string>, message: RegExp): void => {
      const result = helmTemplate('accord', { namespace: 'accord-system', set });
      expect(result.ok, JSON.stringify(set)).toBe(false);
      if (!result.ok) expect(result.error).toMatch(message);
    };
    refused({ 'image.digest': 'latest' }, /image\.digest: Does not match pattern/);
    refused({ 'redis.sentinel.image.digest': '' }, /redis\.sentinel\.image\.digest/);
    refused({ replica: '3' }, /Additional property replica is not allowed/);
    refused({ 'redis.mode': 'external', 'networkPolicy.enabled': 'false' }, /redis\.external\.urlSecret: name the Secret/);
    refused({ 'redis.mode': 'external', 'redis.external.urlSecret': 'url' }, /networkPolicy\.externalRedis\.to/);
    refused({ 'redis.sentinel.replicas': '2' }, /replicas/);
  });
});

describe('the shell reader the checks rely on', () => {
  it('finds commands through continuations, quotes, substitutions and redirections', () => {
    const script = [
      'set -eu',
      'ID=$(accord register --service a --address "$POD_IP" \\',
      '  --port 80 --json)',
      "accord bootstrap --workload \"$ID\" --out /b/envoy.yaml > /dev/null 2>&1 && echo 'accord done'",
      'accord register --port 8080 \\ --json',
    ].join('\n');
    const commands = shellCommands(script, new Map([['POD_IP', '10.0.0.1']])).filter((w) => w[0] === 'accord');
    expect(commands[0]).toEqual(['accord', 'register', '--service', 'a', '--address', '10.0.0.1', '--port', '80', '--json']);
    expect(commands[1]).toEqual(['accord', 'bootstrap', '--workload', DYNAMIC, '--out', '/b/envoy.yaml']);
    // An escaped space is a character, not a separator: the CLI check must see " --json".
    expect(commands[2]).toEqual(['accord', 'register', '--port', '8080', ' --json']);
    expect(invocationProblems(commands[2] as string[]).join('\n')).toMatch(/stray argument: " --json"|too many arguments/);
    expect(invocationProblems(['accord', 'serve', '--no-such-flag'])).toEqual([expect.stringMatching(/unknown option/)]);
    expect(invocationProblems(['accord', 'register', '--service', 'x'])).toEqual(
      expect.arrayContaining([expect.stringMatching(/missing required option --address/)]),
    );
    expect(buildProgram().commands.length).toBeGreaterThan(5);
  });
});
