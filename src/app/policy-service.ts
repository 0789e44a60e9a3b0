import { stringify } from 'yaml';
import type { PolicySet } from '../core/policy.js';
import type { Logger } from '../observability/logger.js';
import { ApiError } from '../api/errors.js';
import type { PolicyOperations } from '../api/http.js';
import { documentsToJson, parsePolicyDocuments, parsePolicyStream, type PolicyError } from '../config/index.js';
import { MeshTranslator } from '../mesh/index.js';
import type { Store } from '../registry/store.js';
import type { MeshSnapshot } from './mesh-state.js';
import { lineDiff } from './line-diff.js';

export interface PolicyServiceDeps {
  readonly store: Store;
  readonly snapshot: () => MeshSnapshot;
  readonly logger: Logger;
  /** When policies come from `--config DIR`, the directory is authoritative and the API refuses writes. */
  readonly managedBy?: string;
  readonly onRejected: (errors: readonly PolicyError[]) => void;
  readonly onApplied: () => void;
}

/** `PUT /v1/policies` and `GET /v1/policies`: validate all, apply all or nothing, or diff in a dry run. */
export class PolicyService implements PolicyOperations {
  private readonly log: Logger;

  constructor(private readonly deps: PolicyServiceDeps) {
    this.log = deps.logger.child({ component: 'policies' });
  }

  async apply(input: { body: string | unknown; dryRun: boolean }): Promise<unknown> {
    let result;
    if (typeof input.body === 'string') {
      result = parsePolicyStream(input.body, 'request');
    } else {
      if (!Array.isArray(input.body)) throw new ApiError('INVALID_ARGUMENT', 'a JSON body must be an array of policy documents');
      result = parsePolicyDocuments(input.body, 'request');
    }
    if (!result.ok) {
      this.deps.onRejected(result.errors);
      this.log.warn({ problems: result.errors.length }, 'policy change rejected; the previous policy stays in force');
      throw new ApiError('INVALID_ARGUMENT', `${result.errors.length} problem(s) in the policy documents; nothing applied`, result.errors);
    }
    const documents = documentsToJson(result.documents);
    if (input.dryRun) {
      return { applied: false, documents: documents.length, diffs: this.diffs(result.policySet) };
    }
    if (this.deps.managedBy) {
      throw new ApiError('CONFLICT', `policies are managed by --config ${this.deps.managedBy}; change the files there`);
    }
    const revision = await this.deps.store.putPolicies(documents);
    this.deps.onApplied();
    this.log.info({ documents: documents.length, revision }, 'policies applied');
    return { applied: true, documents: documents.length, revision };
  }

  async list(): Promise<readonly unknown[]> {
    return (await this.deps.store.getPolicies()).docs;
  }

  /** For every registered workload, the diff of its Envoy resources under the proposed policies. */
  private diffs(proposed: PolicySet): { proxy: string; diff: string }[] {
    const current = this.deps.snapshot();
    const next: MeshSnapshot = { ...current, policies: { ...proposed, mesh: { ...proposed.mesh, trustDomain: current.policies.mesh.trustDomain } } };
    // A translator of its own: dry runs must not evict the serving translator's caches.
    const translator = new MeshTranslator();
    const out: { proxy: string; diff: string }[] = [];
    for (const id of [...current.workloads.keys()].sort()) {
      const before = render(translator, current, id);
      const after = render(translator, next, id);
      if (before !== after) out.push({ proxy: id, diff: lineDiff(before, after, { labels: [`${id} (current)`, `${id} (proposed)`] }) });
    }
    return out;
  }
}

function render(translator: MeshTranslator, snapshot: MeshSnapshot, workloadId: string): string {
  const resources = translator.translate(snapshot, workloadId, 'envoy');
  const out: Record<string, Record<string, unknown>> = {};
  for (const typeUrl of [...resources.keys()].sort()) {
    const byName = resources.get(typeUrl) as ReadonlyMap<string, unknown>;
    const short = typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
    out[short] = Object.fromEntries([...byName.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }
  return stringify(out, { sortMapEntries: true });
}
