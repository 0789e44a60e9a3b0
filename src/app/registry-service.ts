import { spiffeId as makeSpiffeId } from '../core/workload.js';
import type { Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { ServiceError } from '../core/errors.js';
import type { RegistryOperations } from '../api/http.js';
import { ConflictError, NotFoundError } from '../registry/errors.js';
import { endpointIdSuffix, parseRegistration } from '../registry/registration.js';
import type { Store } from '../registry/store.js';

export interface TokenMinter {
  mint(claims: { workloadId: string; spiffeId: string }, now: number): Promise<string>;
  /** Every token issued to the workload so far is refused from now on, on every replica. */
  denyWorkloadTokens(workloadId: string): Promise<void>;
  /** The workload a valid, not denied, not revoked token names; ServiceError otherwise. */
  workloadClaims(token: string): Promise<{ workloadId: string; spiffeId: string }>;
}

/** Enough tries to get past concurrent registrations of the same endpoint and retired ids. */
const MAX_REGISTER_ATTEMPTS = 16;

function sameEndpoint(a: Workload, b: Workload): boolean {
  return a.namespace === b.namespace && a.service === b.service && a.address === b.address && a.port === b.port;
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
    /** Revoked workload ids are retired: a new registration of their endpoint gets a fresh id. */
    private readonly isRevoked: (workloadId: string) => boolean = () => false,
  ) {
    this.log = logger.child({ component: 'registry' });
  }

  /**
   * Registers a workload, or replaces the registration of the same service, namespace, address
   * and port (like Consul's re-registration by id): its id, and so its identity, stay the same.
   * The id comes from that endpoint, so replicas and restarts agree on it without a lookup.
   */
  async register(body: unknown): Promise<{ id: string; spiffeId: string; token: string; created: boolean }> {
    let generation = 0;
    for (let attempt = 0; attempt < MAX_REGISTER_ATTEMPTS; attempt += 1) {
      const parsed = parseRegistration(body, (endpoint) => endpointIdSuffix(endpoint, generation));
      if (!parsed.ok) throw new ServiceError('INVALID_ARGUMENT', `invalid registration: ${parsed.errors.length} problem(s)`, parsed.errors);
      const workload = parsed.workload;
      const existing = await this.store.getWorkload(workload.id);
      if (existing && !sameEndpoint(existing.workload, workload)) {
        generation += 1; // another endpoint's id (a hash collision): derive the next one
        continue;
      }
      if (!existing && this.isRevoked(workload.id)) {
        generation += 1;
        continue;
      }
      if (existing && existing.workload.serviceAccount !== workload.serviceAccount) {
        throw new ServiceError(
          'CONFLICT',
          `${workload.namespace}/${workload.service} at ${workload.address}:${workload.port} is registered as workload ${workload.id} ` +
            `with service account "${existing.workload.serviceAccount}"; deregister it first to change its identity`,
          [{ field: 'serviceAccount', message: `expected "${existing.workload.serviceAccount}" (the registered identity)` }],
        );
      }
      try {
        await this.store.putWorkload(workload, { expectedRevision: existing?.revision ?? 0, now: this.now() });
      } catch (error) {
        if (error instanceof ConflictError) continue; // registered or changed concurrently: look again
        throw error;
      }
      const spiffeId = this.spiffeIdOf(workload);
      const token = await this.tokens.mint({ workloadId: workload.id, spiffeId }, this.now());
      const fields = { workloadId: workload.id, service: workload.service, namespace: workload.namespace, address: workload.address };
      this.log.info(fields, existing ? 'workload re-registered; its registration was replaced' : 'workload registered');
      return { id: workload.id, spiffeId, token, created: !existing };
    }
    throw new ServiceError('CONFLICT', 'the registration kept changing concurrently; try again');
  }

  /**
   * A workload that finds itself missing (its lease was reaped, or Redis lost its data) registers
   * itself again with its own token (docs/registry.md, Re-registration). The registration must be
   * the one the token names: the same endpoint (hence the same id) and the same identity. A
   * deregistered workload cannot come back this way: deregistration denies its tokens. A workload
   * still registered is left as it is (created: false) — its token cannot change a registration.
   */
  async reregister(workloadToken: string, body: unknown): Promise<{ id: string; spiffeId: string; created: boolean }> {
    const claims = await this.tokens.workloadClaims(workloadToken);
    for (let generation = 0; generation < MAX_REGISTER_ATTEMPTS; generation += 1) {
      const parsed = parseRegistration(body, (endpoint) => endpointIdSuffix(endpoint, generation));
      if (!parsed.ok) throw new ServiceError('INVALID_ARGUMENT', `invalid registration: ${parsed.errors.length} problem(s)`, parsed.errors);
      const workload = parsed.workload;
      if (workload.id !== claims.workloadId) continue;
      const spiffeId = this.spiffeIdOf(workload);
      if (spiffeId !== claims.spiffeId) {
        this.log.warn({ workloadId: claims.workloadId, claimed: spiffeId }, 'self re-registration denied: another identity than the token names');
        throw new ServiceError('PERMISSION_DENIED', `the token is for ${claims.spiffeId}; this registration would be ${spiffeId}`);
      }
      if (await this.store.getWorkload(workload.id)) return { id: workload.id, spiffeId, created: false };
      try {
        await this.store.putWorkload(workload, { expectedRevision: 0, now: this.now() });
      } catch (error) {
        if (error instanceof ConflictError) return { id: workload.id, spiffeId, created: false };
        throw error;
      }
      this.log.info({ workloadId: workload.id, service: workload.service, namespace: workload.namespace }, 'workload was missing and registered itself again with its token');
      return { id: workload.id, spiffeId, created: true };
    }
    this.log.warn({ workloadId: claims.workloadId }, 'self re-registration denied: the registration is not of the workload the token names');
    throw new ServiceError('PERMISSION_DENIED', `the token is for workload "${claims.workloadId}"; this registration is of another endpoint`);
  }

  async workloadNamespace(id: string): Promise<string | undefined> {
    return (await this.store.getWorkload(id))?.workload.namespace;
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
