import { configDefaults, defineConfig } from 'vitest/config';
import { ENVOY_SUITES, envoySkipped } from './test/envoy-suites.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // ACCORD_SKIP_ENVOY=1 leaves the real-Envoy suites out of the run (the global setup says so
    // loudly); they are never reported as passed or skipped.
    exclude: [...configDefaults.exclude, ...(envoySkipped() ? [ENVOY_SUITES] : [])],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration and e2e suites bind ports and spawn processes; two cores are all we have.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
