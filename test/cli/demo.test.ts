/**
 * `accord demo` without an Envoy to run: one line saying how to get one, exit 1, nothing started.
 * (The demo itself, with real Envoy, is test/envoy/demo.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

describe('accord demo without Envoy', () => {
  it('says in one line how to get Envoy and exits 1', async () => {
    const result = await runCli(['demo'], { ENVOY_BIN: '/nonexistent/envoy', PATH: '/nonexistent' });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines, result.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^accord demo: no Envoy 1\.40\.0 \(ENVOY_BIN=\/nonexistent\/envoy does not run as Envoy.*\); run tools\/install\.sh .* or set ENVOY_BIN to an Envoy 1\.40\.0 binary$/);
    expect(result.stdout).toBe('');
  });
});
