import { describe, expect, it } from 'vitest';
import { comparePolicyErrors, formatFieldPath, formatPolicyError, parsePolicyStream, type PolicyError } from '../../src/config/index.js';

describe('policy errors', () => {
  it('formats field paths with dots for keys and brackets for list items', () => {
    expect(formatFieldPath(['spec', 'rules', 0, 'from', 1, 'service'])).toBe('spec.rules[0].from[1].service');
    expect(formatFieldPath([0])).toBe('[0]');
    expect(formatFieldPath([])).toBe('');
  });

  it('formats one line per error, with the position when known and the document number otherwise', () => {
    const positioned: PolicyError = { file: 'policies/payments.yaml', line: 12, column: 7, path: 'spec.retries.attempts', message: 'expected a positive integer, got 0' };
    expect(formatPolicyError(positioned)).toBe('policies/payments.yaml:12:7: spec.retries.attempts: expected a positive integer, got 0');
    expect(formatPolicyError({ file: 'store', line: 0, column: 0, path: 'spec.target', message: 'm', document: 2 })).toBe('store: document 3: spec.target: m');
    expect(formatPolicyError({ file: 'a.yaml', line: 3, column: 1, path: '', message: 'YAML syntax error: x' })).toBe('a.yaml:3:1: YAML syntax error: x');
  });

  it('orders errors by file, position, document and path', () => {
    const error = (file: string, line: number, column: number, path: string, document?: number): PolicyError => ({ file, line, column, path, message: '', document });
    const sorted = [
      error('b.yaml', 1, 1, 'x'),
      error('a.yaml', 9, 1, 'x'),
      error('a.yaml', 2, 5, 'x'),
      error('a.yaml', 2, 3, 'y'),
      error('a.yaml', 2, 3, 'x'),
      error('store', 0, 0, 'x', 4),
      error('store', 0, 0, 'x', 1),
    ].sort(comparePolicyErrors);
    expect(sorted.map((item) => `${item.file}:${item.line}:${item.column}:${item.document ?? ''}:${item.path}`)).toEqual([
      'a.yaml:2:3::x',
      'a.yaml:2:3::y',
      'a.yaml:2:5::x',
      'a.yaml:9:1::x',
      'b.yaml:1:1::x',
      'store:0:0:1:x',
      'store:0:0:4:x',
    ]);
  });

  it('a duplicate that is also huge is quoted clipped, as every other quoted value (found by the policy fuzz)', () => {
    const name = 'x'.repeat(5_000);
    const yaml = [
      'apiVersion: gateway.networking.k8s.io/v1',
      'kind: Gateway',
      'metadata: {name: edge, namespace: shop}',
      'spec:',
      '  gatewayClassName: accord',
      '  listeners:',
      `    - {name: ${name}, port: 8080, protocol: HTTP}`,
      `    - {name: ${name}, port: 8081, protocol: HTTP}`,
    ].join('\n');
    const result = parsePolicyStream(yaml, 'dup.yaml');
    expect(result.ok).toBe(false);
    const duplicate = result.ok ? undefined : result.errors.find((error) => error.message.startsWith('duplicate listener name'));
    expect(duplicate?.path).toBe('spec.listeners[1].name');
    expect(duplicate?.message).toBe(`duplicate listener name "${'x'.repeat(80)}…(5000 chars)" (also listeners[0])`);
  });
});
