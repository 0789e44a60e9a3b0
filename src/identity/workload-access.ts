import { IssuanceError, TokenError, type MintedToken } from '../ca/index.js';
import { spiffeId as makeSpiffeId, type Workload } from '../core/workload.js';
import type { CaRuntime } from './ca-runtime.js';
import type { WorkloadRevocations } from './revocations.js';
import type { TokenDenyList } from './token-denylist.js';

/** What a verified workload token says. */
export interface VerifiedWorkload {
  readonly workloadId: string;
  readonly spiffeId: string;
  /** The token's id (`jti`). */
  readonly tokenId: string;
  /** When the token was minted (ms). */
  readonly issuedAt: number;
}

export interface WorkloadAccessDeps {
  readonly runtime: CaRuntime;
  readonly revocations: WorkloadRevocations;
  readonly denied: TokenDenyList;
  readonly workloads: () => Iterable<Workload>;
  /** The longest a workload token lives (`--token-ttl`). */
  readonly tokenTtlMs: number;
  readonly now: () => number;
}

/**
 * Who a workload is and whether it may still be served: workload tokens (minted, verified,
 * denied), and revocation of whole workloads as the token and stream checks see it.
 */
export class WorkloadAccess {
  constructor(private readonly deps: WorkloadAccessDeps) {}

  spiffeIdOf(workload: Workload): string {
    return makeSpiffeId(this.deps.runtime.trustDomain, workload.namespace, workload.serviceAccount);
  }

  async mint(claims: { workloadId: string; spiffeId: string }, now: number): Promise<string> {
    return this.deps.runtime.tokens.mint({ ...claims, ttlMs: this.deps.tokenTtlMs, now });
  }

  async mintWithId(workload: Workload, now: number): Promise<MintedToken> {
    return this.deps.runtime.tokens.mintWithId({ workloadId: workload.id, spiffeId: this.spiffeIdOf(workload), ttlMs: this.deps.tokenTtlMs, now });
  }

  /**
   * The workload a token names, if the token verifies, is not on the deny-list and its workload is
   * not revoked. Throws TokenError (401) or IssuanceError REVOKED (403).
   */
  async verifyToken(token: string, now: number): Promise<VerifiedWorkload> {
    const claims = await this.deps.runtime.verifySignature(token, now);
    const verified: VerifiedWorkload = { workloadId: claims.workloadId, spiffeId: claims.spiffeId, tokenId: claims.tokenId, issuedAt: claims.issuedAt };
    if (this.deps.revocations.isRevoked(verified.workloadId)) {
      throw new IssuanceError('REVOKED', 'workload', `"${verified.workloadId}" is revoked; its tokens and certificates are refused`);
    }
    const denial = this.deps.denied.denial(verified);
    if (denial) throw new TokenError('DENIED', `token: ${denial}`);
    return verified;
  }

  /** Why a stream authenticated with these claims may no longer be served (undefined: it may). */
  streamDenial(claims: VerifiedWorkload): string | undefined {
    if (this.deps.revocations.isRevoked(claims.workloadId)) return `workload "${claims.workloadId}" is revoked`;
    return this.deps.denied.denial(claims);
  }

  isWorkloadRevoked(workloadId: string): boolean {
    return this.deps.revocations.isRevoked(workloadId);
  }

  /**
   * SPIFFE IDs whose every registered workload is revoked. Peers without CRL support (proxyless
   * gRPC) enforce revocation through RBAC at this granularity; Envoy peers also get the CRL.
   */
  revokedCallers(): string[] {
    if (this.deps.revocations.revokedWorkloads().length === 0) return [];
    const live = new Map<string, boolean>();
    for (const workload of this.deps.workloads()) {
      const id = this.spiffeIdOf(workload);
      live.set(id, (live.get(id) ?? true) && this.deps.revocations.isRevoked(workload.id));
    }
    return [...live].filter(([, allRevoked]) => allRevoked).map(([id]) => id);
  }

  /** Denies one token by id on every replica, until any token of that id has expired. */
  async denyToken(tokenId: string): Promise<number> {
    const until = this.deps.now() + this.deps.tokenTtlMs;
    await this.deps.denied.denyToken(tokenId, until);
    return until;
  }

  /** Every token issued to the workload so far is refused (deregistration). */
  async denyWorkloadTokens(workloadId: string): Promise<void> {
    const now = this.deps.now();
    await this.deps.denied.denyWorkload(workloadId, now, now + this.deps.tokenTtlMs);
  }
}
