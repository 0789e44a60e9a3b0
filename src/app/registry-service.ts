import { spiffeId as makeSpiffeId } from '../core/workload.js';
import type { Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { ApiError } from '../api/errors.js';
import type { RegistryOperations } from '../api/http.js';
import { NotFoundError } from '../registry/errors.js';
import { parseRegistration } from '../registry/registration.js';
import type { Store } from '../registry/store.js';

export interface TokenMinter {
  mint(claims: { workloadId: string; spiffeId: string }, now: number): Promise<string>;
  /** Every token issued to the workload so far is refused from now on, on every replica. */
  denyWorkloadTokens(workloadId: string): Promise<void>;
}

/** The registration operations behind `/v1/workloads`, `/v1/services` and `accord.v1.Registry`. */
export class RegistryService implements RegistryOperations {
  private readonly log: Logger;

  constructor(
    private readonly store: Store,
    private readonly tokens: TokenMinter,
    private readonly trustDomain: () => string,
    logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.log = logger.child({ component: 'registry' });
  }

  async register(body: unknown): Promise<{ id: string; spiffeId: string; token: string }> {
    const parsed = parseRegistration(body);
    if (!parsed.ok) throw new ApiError('INVALID_ARGUMENT', `invalid registration: ${parsed.errors.length} problem(s)`, parsed.errors);
    const workload = parsed.workload;
    await this.store.putWorkload(workload, { expectedRevision: 0, now: this.now() });
    const spiffeId = this.spiffeIdOf(workload);
    const token = await this.tokens.mint({ workloadId: workload.id, spiffeId }, this.now());
    this.log.info({ workloadId: workload.id, service: workload.service, namespace: workload.namespace, address: workload.address }, 'workload registered');
    return { id: workload.id, spiffeId, token };
  }

  async listWorkloads(): Promise<readonly Workload[]> {
    return (await this.store.listWorkloads()).map((stored) => stored.workload);
  }

  async deregister(id: string): Promise<void> {
    await this.store.deleteWorkload(id);
    // Its tokens die with it: a deregistered workload's proxy is refused, not served the last state.
    await this.tokens.denyWorkloadTokens(id);
    this.log.info({ workloadId: id }, 'workload deregistered; its tokens are denied');
  }

  /** The store answers NotFoundError for an unknown id. */
  async heartbeat(id: string): Promise<void> {
    await this.store.renewLease(id, this.now());
  }

  async listServices(): Promise<readonly unknown[]> {
    return this.store.listServices();
  }

  /** A fresh token for an existing workload (for `accord bootstrap`). */
  async tokenFor(id: string): Promise<{ workload: Workload; token: string; spiffeId: string }> {
    const stored = await this.store.getWorkload(id);
    if (!stored) throw new NotFoundError('workload', id);
    const spiffeId = this.spiffeIdOf(stored.workload);
    return { workload: stored.workload, spiffeId, token: await this.tokens.mint({ workloadId: id, spiffeId }, this.now()) };
  }

  spiffeIdOf(workload: Workload): string {
    return makeSpiffeId(this.trustDomain(), workload.namespace, workload.serviceAccount);
  }
}
