import { describe, expect, it } from 'vitest';
import { OperatorTokens, parseTokenFile } from '../../src/api/operator-tokens.js';

describe('operator token files', () => {
  it('takes one token a line, skipping blank lines and # comments, and accepts every one of them', () => {
    const tokens = parseTokenFile('# current\naaaaaaaaaaaaaaaa1\n\n  bbbbbbbbbbbbbbbb2  \n# old, remove after the roll-out\n', 'tokens');
    expect(tokens).toEqual(['aaaaaaaaaaaaaaaa1', 'bbbbbbbbbbbbbbbb2']);
    const accepted = new OperatorTokens(tokens);
    expect(accepted.accepts('aaaaaaaaaaaaaaaa1')).toBe(true);
    expect(accepted.accepts('bbbbbbbbbbbbbbbb2')).toBe(true);
    expect(accepted.accepts('aaaaaaaaaaaaaaaa')).toBe(false);
    accepted.replace(['bbbbbbbbbbbbbbbb2']);
    expect(accepted.accepts('aaaaaaaaaaaaaaaa1')).toBe(false);
  });

  it('names the file and line of a bad line, and refuses a file without a token', () => {
    expect(() => parseTokenFile('aaaaaaaaaaaaaaaa1\ntwo words here\n', '/s/tokens')).toThrow('/s/tokens:2: one token per line');
    expect(() => parseTokenFile('short\n', '/s/tokens')).toThrow('/s/tokens:1: a token is 16 to 512 characters (this one has 5)');
    expect(() => parseTokenFile('# only a comment\n\n', '/s/tokens')).toThrow('/s/tokens: no token in the file');
    expect(() => parseTokenFile(Array.from({ length: 33 }, (_, i) => `token-${String(i).padStart(12, '0')}`).join('\n'), 't')).toThrow('t: 33 tokens; at most 32');
  });
});
