import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { formatPolicyError, parsePolicyStream } from '../../src/config/index.js';

/** The YAML examples in the configuration reference must be valid policies. */
const reference = readFileSync('docs/configuration.md', 'utf8');
const examples = [...reference.matchAll(/```yaml\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

describe('docs/configuration.md examples', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  examples.forEach((example, index) => {
    it(`example ${index + 1} is a valid policy stream`, () => {
      const result = parsePolicyStream(example, `docs/configuration.md example ${index + 1}`);
      expect(result.ok ? [] : result.errors.map(formatPolicyError)).toEqual([]);
      expect(result.ok && result.documents.length).toBeGreaterThan(0);
    });
  });
});
