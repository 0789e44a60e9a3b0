import { timingSafeEqual } from 'node:crypto';
import { checkToken, digest } from './operator-tokens.js';

export const MAX_REGISTRATION_TOKENS = 1_000;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface RegistrationToken {
  readonly namespace: string;
  readonly token: string;
}

/**
 * Per-namespace registration tokens (docs/decisions/0017-namespace-registration-tokens.md): a
 * holder may register, renew and deregister workloads of its namespace, and fetch their
 * bootstraps — nothing else. Only digests are kept; a token is compared with all of them in
 * constant time.
 */
export class RegistrationTokens {
  private entries: readonly { digest: Buffer; namespace: string }[] = [];

  constructor(tokens: readonly RegistrationToken[] = []) {
    this.replace(tokens);
  }

  replace(tokens: readonly RegistrationToken[]): void {
    this.entries = tokens.map((entry) => ({ digest: digest(entry.token), namespace: entry.namespace }));
  }

  get size(): number {
    return this.entries.length;
  }

  /** The namespace a registration token is for, or undefined for any other string. */
  namespaceOf(token: string): string | undefined {
    const presented = digest(token);
    let namespace: string | undefined;
    for (const entry of this.entries) if (timingSafeEqual(presented, entry.digest)) namespace = entry.namespace;
    return namespace;
  }
}

/**
 * A registration token file: `<namespace> <token>` a line; blank lines and `#` comments ignored.
 * Several tokens per namespace are allowed (rotation); one token for two namespaces is not.
 */
export function parseRegistrationTokenFile(text: string, file: string): RegistrationToken[] {
  const out: RegistrationToken[] = [];
  const seen = new Map<string, string>();
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const where = `${file}:${index + 1}`;
    const fields = line.split(/\s+/);
    if (fields.length !== 2) throw new Error(`${where}: expected "<namespace> <token>" (got ${fields.length} field(s))`);
    const [namespace, token] = fields as [string, string];
    if (!NAMESPACE.test(namespace)) throw new Error(`${where}: "${namespace.slice(0, 64)}" is not a namespace (a DNS-1123 label)`);
    checkToken(token, where);
    const other = seen.get(token);
    if (other !== undefined && other !== namespace) throw new Error(`${where}: this token is already the token of namespace "${other}"`);
    if (other === undefined) out.push({ namespace, token });
    seen.set(token, namespace);
  }
  if (out.length > MAX_REGISTRATION_TOKENS) throw new Error(`${file}: ${out.length} tokens; at most ${MAX_REGISTRATION_TOKENS}`);
  return out;
}
