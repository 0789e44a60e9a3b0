import { createHash, timingSafeEqual } from 'node:crypto';

/** More would be a mistake, not a rotation: two (old and new) is the usual case. */
export const MAX_OPERATOR_TOKENS = 32;
const MIN_TOKEN_LENGTH = 16;
const MAX_TOKEN_LENGTH = 512;

export function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/**
 * The operator tokens accepted now (several at once, so a new one can be rolled out before the old
 * one is removed). Only SHA-256 digests are kept; a presented token is compared with every one of
 * them in constant time, so neither which one matched nor a token's length or prefix leaks.
 */
export class OperatorTokens {
  private digests: readonly Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = OperatorTokens.digestsOf(tokens);
  }

  private static digestsOf(tokens: readonly string[]): Buffer[] {
    if (tokens.length === 0) throw new Error('at least one operator token is needed');
    return tokens.map(digest);
  }

  /** Swaps the accepted set at once (a token file changed). */
  replace(tokens: readonly string[]): void {
    this.digests = OperatorTokens.digestsOf(tokens);
  }

  get size(): number {
    return this.digests.length;
  }

  accepts(token: string): boolean {
    const presented = digest(token);
    let matched = false;
    for (const expected of this.digests) matched = timingSafeEqual(presented, expected) || matched;
    return matched;
  }
}

/** Throws (naming `where`, never the token) unless `token` is 16 to 512 printable ASCII characters. */
export function checkToken(token: string, where: string): void {
  if (!/^[\x21-\x7e]+$/.test(token)) throw new Error(`${where}: a token is printable ASCII only`);
  if (token.length < MIN_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH) {
    throw new Error(`${where}: a token is ${MIN_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters (this one has ${token.length})`);
  }
}

/**
 * A token file: one token a line; blank lines and lines starting with `#` are ignored. Throws with
 * `file:line` for a line that is not one token of 16 to 512 printable characters, and for a file
 * with no token or more than MAX_OPERATOR_TOKENS.
 */
export function parseTokenFile(text: string, file: string): string[] {
  const tokens: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${file}:${index + 1}`;
    if (/\s/.test(line)) throw new Error(`${where}: one token per line (this line has spaces in it)`);
    checkToken(line, where);
    if (!tokens.includes(line)) tokens.push(line);
  }
  if (tokens.length === 0) throw new Error(`${file}: no token in the file (one a line; # starts a comment)`);
  if (tokens.length > MAX_OPERATOR_TOKENS) throw new Error(`${file}: ${tokens.length} tokens; at most ${MAX_OPERATOR_TOKENS}`);
  return tokens;
}
