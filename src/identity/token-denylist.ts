import { realClock, repeatAsync, sleep, type Clock } from '../core/clock.js';
import { ServiceError } from '../core/errors.js';
import type { CaKv } from '../ca/index.js';
import type { Logger } from '../observability/logger.js';

/** Denied workload tokens, shared by every replica through the CA's KV (Redis, or the data dir). */
export const DENIED_TOKENS_KEY = 'accord/tokens/denied';
const SYNC_MS = 1_000;
const CAS_ATTEMPTS = 20;

interface DeniedState {
  /** Token id (jti) → until when the entry is kept (the token has expired by then). */
  readonly tokens: Record<string, number>;
  /** Workload id → every token of it issued at or before `before` is denied; kept until `until`. */
  readonly workloads: Record<string, { readonly before: number; readonly until: number }>;
}

const EMPTY: DeniedState = { tokens: {}, workloads: {} };

function parse(text: string): DeniedState {
  try {
    const raw = JSON.parse(text) as Partial<DeniedState>;
    return { tokens: raw.tokens ?? {}, workloads: raw.workloads ?? {} };
  } catch {
    return EMPTY;
  }
}

function pruned(state: DeniedState, now: number): DeniedState {
  const tokens = Object.fromEntries(Object.entries(state.tokens).filter(([, until]) => until > now));
  const workloads = Object.fromEntries(Object.entries(state.workloads).filter(([, entry]) => entry.until > now));
  return { tokens, workloads };
}

export interface TokenDenyListDeps {
  /** Time and timers; the real clock by default. */
  readonly clock?: Clock;
  readonly kv: CaKv;
  readonly logger: Logger;
  readonly now: () => number;
  /** What other replicas denied reached this one (or this one denied something). */
  readonly onChange: () => void;
}

/**
 * The deny-list of workload tokens: by token id (an operator denies one token) and by workload
 * (deregistration denies every token issued to it so far). Entries are kept only until the tokens
 * they name have expired. Checks are in memory; the list is re-read from the KV every second.
 */
export class TokenDenyList {
  private state: DeniedState = EMPTY;
  private version: number | undefined;
  private stopSync: () => void = () => undefined;
  private updating: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(private readonly deps: TokenDenyListDeps) {
    this.log = deps.logger.child({ component: 'token-denylist' });
    this.clock = deps.clock ?? realClock;
  }

  async start(): Promise<void> {
    // The first read tells no listener: nothing is served yet.
    await this.sync(false).catch((error: unknown) => this.log.warn({ err: error }, 'could not read the token deny-list; will retry'));
    this.stopSync = repeatAsync(this.clock, SYNC_MS, () => this.sync(), (error) => this.log.warn({ err: error }, 'token deny-list sync failed; will retry'));
  }

  stop(): void {
    this.stopSync();
  }

  /** Why a token is denied, or undefined. `issuedAt` in ms. */
  denial(claims: { readonly tokenId: string; readonly workloadId: string; readonly issuedAt: number }): string | undefined {
    if (this.state.tokens[claims.tokenId] !== undefined) return `token "${claims.tokenId}" is denied`;
    const workload = this.state.workloads[claims.workloadId];
    if (workload && claims.issuedAt <= workload.before) return `tokens of workload "${claims.workloadId}" are denied (deregistered)`;
    return undefined;
  }

  async denyToken(tokenId: string, until: number): Promise<void> {
    await this.update((state) => ({ ...state, tokens: { ...state.tokens, [tokenId]: Math.max(until, state.tokens[tokenId] ?? 0) } }));
    this.log.warn({ tokenId }, 'workload token denied');
  }

  async denyWorkload(workloadId: string, before: number, until: number): Promise<void> {
    await this.update((state) => ({ ...state, workloads: { ...state.workloads, [workloadId]: { before, until } } }));
    this.log.info({ workloadId }, "workload's tokens denied");
  }

  /**
   * Changes on this replica run one after another (concurrent deregistrations would otherwise race
   * each other on the one shared key); a race with another replica is retried after a short,
   * jittered pause.
   */
  private update(change: (state: DeniedState) => DeniedState): Promise<void> {
    const next = this.updating.then(() => this.updateNow(change));
    this.updating = next.catch(() => undefined);
    return next;
  }

  private async updateNow(change: (state: DeniedState) => DeniedState): Promise<void> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt += 1) {
      const stored = await this.deps.kv.kvGet(DENIED_TOKENS_KEY);
      const next = pruned(change(stored ? parse(stored.value) : EMPTY), this.deps.now());
      if (await this.deps.kv.kvPutIfVersion(DENIED_TOKENS_KEY, JSON.stringify(next), stored?.version)) {
        this.apply(next, (stored?.version ?? 0) + 1);
        return;
      }
      await sleep(this.clock, 5 + Math.floor(Math.random() * 20 * (attempt + 1)));
    }
    throw new ServiceError('UNAVAILABLE', 'could not record the denied token: the shared deny-list kept changing; try again');
  }

  private async sync(notify = true): Promise<void> {
    const stored = await this.deps.kv.kvGet(DENIED_TOKENS_KEY);
    if (!stored || stored.version === this.version) return;
    this.apply(parse(stored.value), stored.version, notify);
  }

  private apply(state: DeniedState, version: number, notify = true): void {
    this.state = state;
    this.version = version;
    if (notify) this.deps.onChange();
  }
}
