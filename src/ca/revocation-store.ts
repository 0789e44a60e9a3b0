import type { CaKv } from './kv.js';
import { RevocationList, type RevocationState } from './revocation.js';

export const DEFAULT_REVOCATIONS_KEY = 'accord/ca/revocations';

function parseState(json: string, key: string): RevocationState {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`${key}: revocation state is not valid JSON`);
  }
  const state = raw as Partial<RevocationState>;
  if (!Array.isArray(state.certificates) || !Array.isArray(state.identities)) {
    throw new Error(`${key}: fields "certificates" and "identities" must be arrays`);
  }
  return state as RevocationState;
}

/**
 * Revocations shared by all replicas through the KV. `sync` merges both ways with
 * compare-and-set: what this replica revoked is published, what others revoked is applied here
 * (so every replica refuses the identity and lists the serials in its CRL).
 */
export class SharedRevocations {
  constructor(
    private readonly kv: CaKv,
    private readonly key: string = DEFAULT_REVOCATIONS_KEY,
  ) {}

  /** Returns whether the local list learned anything from other replicas. */
  async sync(local: RevocationList, now: number): Promise<boolean> {
    let learned = false;
    for (;;) {
      const stored = await this.kv.kvGet(this.key);
      const shared = stored ? RevocationList.fromState(parseState(stored.value, this.key)) : new RevocationList();
      if (stored) learned = local.merge(shared.toState()) || learned;
      const publishedSomething = shared.merge(local.toState());
      if (!publishedSomething && stored) return learned;
      shared.prune(now);
      if (await this.kv.kvPutIfVersion(this.key, JSON.stringify(shared.toState()), stored?.version)) return learned;
    }
  }
}
