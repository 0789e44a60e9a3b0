import { formatPolicyError, type PolicyLoadResult } from '../../src/config/index.js';

/** The successful result, or a failure listing every policy error (readable in test output). */
export function expectLoaded(result: PolicyLoadResult): Extract<PolicyLoadResult, { ok: true }> {
  if (!result.ok) throw new Error(`expected the policies to load:\n${result.errors.map(formatPolicyError).join('\n')}`);
  return result;
}
