import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration and e2e suites bind ports and spawn processes; two cores are all we have.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default'],
  },
});
