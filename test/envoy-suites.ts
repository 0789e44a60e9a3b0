/**
 * Which suites need real Envoy, and the one way to run without them. Shared by vitest.config.ts
 * (which excludes them when skipped) and the global setup (which says so, loudly, at both ends).
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';

/** Every suite that runs real Envoy lives here; the harness refuses to start Envoy elsewhere when skipped. */
export const ENVOY_SUITES_DIR = 'test/envoy';
export const ENVOY_SUITES = `${ENVOY_SUITES_DIR}/**`;
export const SKIP_ENVOY_ENV = 'ACCORD_SKIP_ENVOY';

export function envoySkipped(env: NodeJS.ProcessEnv = process.env): boolean {
  return env[SKIP_ENVOY_ENV] === '1';
}

function envoySuiteFiles(root: string): string[] {
  const dir = path.join(root, ENVOY_SUITES_DIR);
  try {
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.test.ts'))
      .map((file) => path.join(ENVOY_SUITES_DIR, file))
      .sort();
  } catch {
    return [];
  }
}

export function skipNotice(root: string): string {
  const files = envoySuiteFiles(root);
  const bar = '!'.repeat(100);
  return [
    bar,
    `!!! ${SKIP_ENVOY_ENV}=1: ${files.length} real-Envoy test file(s) NOT RUN (excluded, neither passed nor skipped):`,
    ...files.map((file) => `!!!   ${file}`),
    '!!! This run does not show that Envoy accepts what Accord sends. Unset it (tools/install.sh gets Envoy).',
    bar,
  ].join('\n');
}
