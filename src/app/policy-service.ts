import { stringify } from 'yaml';
import type { PolicySet } from '../core/policy.js';
import type { Logger } from '../observability/logger.js';
import { ServiceError } from '../core/errors.js';
import type { PolicyOperations, PolicyRemoval, PolicyWrite } from '../api/http.js';
import {
  POLICY_KINDS,
  formatPolicyError,
  parsePolicyDocuments,
  parsePolicyStream,
  validatePolicySet,
  findUnknownServiceReferences,
  type LocatedDocument,
  type PolicyError,
  type PolicyKind,
  type PolicyLoadResult,
  type ServiceReferenceCheck,
  errorAt,
} from '../config/index.js';
import { MeshTranslator } from '../mesh/index.js';
import { ConflictError } from '../registry/errors.js';
import type { Store } from '../registry/store.js';
import type { MeshSnapshot } from './mesh-state.js';
import { lineDiff } from './line-diff.js';
import {
  isUnchanged,
  keyOf,
  keyText,
  listedPolicies,
  planApply,
  planDelete,
  planReplace,
  readStoredPolicies,
  toStoredPolicies,
  type PolicyChange,
  type PolicyEntry,
  type PolicyKey,
  type PolicyPlan,
} from './policy-changes.js';

export interface PolicyServiceDeps {
  readonly store: Store;
  readonly snapshot: () => MeshSnapshot;
  readonly logger: Logger;
  /** The trust domain of the running CA; a Mesh document cannot ask for another. */
  readonly trustDomain: () => string;
  /** When policies come from `--config DIR`, the directory is authoritative and the API refuses writes. */
  readonly managedBy?: string;
  /** A real (not dry-run) change was refused. */
  readonly onRejected: (errors: readonly PolicyError[]) => void;
  /** A change was accepted (or found already in force); `warnings` are findings that did not block it. */
  readonly onApplied: (warnings: readonly PolicyError[]) => void;
  /** A change was stored (not a dry run, not unchanged). */
  readonly onAccepted?: () => void;
}

/** Where documents from an API request "are" in error messages; the CLI maps them back to its files. */
export const REQUEST_SOURCE = 'request';
/** Concurrent writers: re-plan against the newer set this many times before answering CONFLICT. */
const MAX_ATTEMPTS = 5;
const MAX_KEYS = 1000;

export interface PolicyChangeResult {
  readonly applied: boolean;
  readonly dryRun: boolean;
  readonly unchanged: boolean;
  /** The store revision now in force (for a dry run or an unchanged set: the current one). */
  readonly revision: number;
  /** How many documents the request gave (applies) or named (deletes). */
  readonly documents: number;
  readonly changes: readonly PolicyChange[];
  readonly warnings: readonly PolicyError[];
  readonly diffs?: readonly { proxy: string; diff: string }[];
}

type Operation = (current: readonly PolicyEntry[]) => PolicyPlan;

interface ChangeOptions {
  readonly dryRun: boolean;
  /** Unknown service references: refused (API), only reported (watched directory), or not checked. */
  readonly unknownReferences: 'error' | 'warning' | 'allow';
  readonly documents: number;
  /** Refuse a change that would leave no policy at all. */
  readonly refuseEmptying: boolean;
  /** A whole-set replace does not need to read the set in force; it can overwrite one this version cannot read. */
  readonly replacesAll: boolean;
  readonly origin: 'api' | 'files';
}

function isPolicyKind(value: string): value is PolicyKind {
  return (POLICY_KINDS as readonly string[]).includes(value);
}

/** `authorizationpolicy` → `AuthorizationPolicy`, as kubectl accepts kinds in any case. */
export function policyKindNamed(value: string): PolicyKind | undefined {
  return POLICY_KINDS.find((kind) => kind.toLowerCase() === value.toLowerCase());
}

/**
 * The policy set behind `/v1/policies`: per-object apply, whole-set replace, delete, list. Every
 * change is validated as the whole set it produces and written all or nothing, with the store's
 * compare-and-set so concurrent writers never lose each other's objects.
 */
export class PolicyService implements PolicyOperations {
  private readonly log: Logger;
  /** File reloads are applied one after another, so an older reload never lands after a newer one. */
  private fileSync: Promise<void> = Promise.resolve();

  constructor(private readonly deps: PolicyServiceDeps) {
    this.log = deps.logger.child({ component: 'policies' });
  }

  async list(): Promise<{ revision: number; managedBy?: string; documents: readonly unknown[] }> {
    const { entries, revision } = await this.inForce();
    return { revision, ...(this.deps.managedBy ? { managedBy: this.deps.managedBy } : {}), documents: listedPolicies(entries, revision) };
  }

  async get(key: { kind: string; namespace: string; name: string }): Promise<unknown> {
    const wanted = this.parseKey(key, 'path');
    const { entries, revision } = await this.inForce();
    const index = entries.findIndex((entry) => keyText(keyOf(entry.document)) === keyText(wanted));
    if (index < 0) throw new ServiceError('NOT_FOUND', `${keyText(wanted)} is not in force`);
    return listedPolicies([entries[index] as PolicyEntry], revision)[0];
  }

  async apply(input: PolicyWrite): Promise<PolicyChangeResult> {
    this.refuseWhenManaged();
    const documents = this.parseBody(input.body, input.dryRun, input.only !== undefined);
    if (input.only) {
      const only = this.parseKey(input.only, 'path');
      const [single] = documents;
      if (documents.length !== 1 || !single) throw new ServiceError('INVALID_ARGUMENT', `the body must hold exactly one document, got ${documents.length}`);
      if (keyText(keyOf(single.document)) !== keyText(only)) {
        throw new ServiceError('INVALID_ARGUMENT', `the document is ${keyText(keyOf(single.document))}, but the path names ${keyText(only)}`, [
          { field: 'body', message: 'kind, metadata.namespace and metadata.name must match the path' },
        ]);
      }
    }
    const options: ChangeOptions = {
      dryRun: input.dryRun,
      unknownReferences: input.allowUnknownTargets ? 'allow' : 'error',
      documents: documents.length,
      refuseEmptying: input.mode === 'replace' && !input.force,
      replacesAll: input.mode === 'replace',
      origin: 'api',
    };
    return this.change((current) => (input.mode === 'replace' ? planReplace(current, documents) : planApply(current, documents)), options);
  }

  async remove(input: PolicyRemoval): Promise<PolicyChangeResult> {
    this.refuseWhenManaged();
    if (!Array.isArray(input.keys) || input.keys.length === 0) {
      throw new ServiceError('INVALID_ARGUMENT', 'name the policies to delete: {"policies": [{"kind", "namespace", "name"}]}', [
        { field: 'policies', message: 'expected a non-empty list' },
      ]);
    }
    if (input.keys.length > MAX_KEYS) throw new ServiceError('INVALID_ARGUMENT', `at most ${MAX_KEYS} policies per request`);
    const keys = input.keys.map((key, index) => this.parseKey(key, `policies[${index}]`));
    return this.change(
      (current) => {
        const plan = planDelete(current, keys);
        if (plan.missing.length > 0 && !input.ignoreMissing) {
          throw new ServiceError('NOT_FOUND', `not in force: ${plan.missing.map(keyText).join(', ')}; nothing deleted`);
        }
        return plan;
      },
      { dryRun: input.dryRun, unknownReferences: 'allow', documents: keys.length, refuseEmptying: false, replacesAll: false, origin: 'api' },
    );
  }

  /** `serve --config PATH`: the files are the whole set. Unknown services only warn: workloads may register later. */
  syncFiles(result: PolicyLoadResult): Promise<void> {
    this.fileSync = this.fileSync.then(() => this.storeFiles(result));
    return this.fileSync;
  }

  /** Never throws: problems are logged and counted, and the previous set stays in force. */
  private async storeFiles(result: PolicyLoadResult): Promise<void> {
    try {
      if (!result.ok) this.rejected(result.errors, 'files');
      const outcome = await this.change((current) => planReplace(current, result.located), {
        dryRun: false,
        unknownReferences: 'warning',
        documents: result.documents.length,
        refuseEmptying: false,
        replacesAll: true,
        origin: 'files',
      });
      if (outcome.unchanged) this.log.debug({ revision: outcome.revision }, 'policy files unchanged');
      else this.log.info({ documents: outcome.documents, revision: outcome.revision, changes: summarize(outcome.changes) }, 'policy files applied');
    } catch (error) {
      if (error instanceof ServiceError && error.code === 'INVALID_ARGUMENT') return; // rejected() reported it
      this.log.error({ err: error }, 'could not store the policy files; will retry on the next change');
    }
  }

  private async change(operation: Operation, options: ChangeOptions): Promise<PolicyChangeResult> {
    for (let attempt = 1; ; attempt += 1) {
      const { entries: current, revision } = await this.inForce(options.replacesAll);
      const plan = operation(current);
      const { policySet, warnings } = this.validate(plan, current.length, options);
      const base = { documents: options.documents, changes: plan.changes, warnings };
      if (options.dryRun) {
        return { ...base, applied: false, dryRun: true, unchanged: isUnchanged(plan), revision, diffs: this.diffs(policySet) };
      }
      if (isUnchanged(plan)) {
        this.deps.onApplied(warnings);
        return { ...base, applied: false, dryRun: false, unchanged: true, revision };
      }
      try {
        const written = await this.deps.store.putPolicies(toStoredPolicies(plan.entries), revision);
        this.deps.onApplied(warnings);
        this.deps.onAccepted?.();
        if (options.origin === 'api') this.log.info({ revision: written, changes: summarize(plan.changes) }, 'policies applied');
        return { ...base, applied: true, dryRun: false, unchanged: false, revision: written };
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= MAX_ATTEMPTS) {
          if (error instanceof ConflictError) throw new ServiceError('CONFLICT', 'the policies kept changing under this request; try again');
          throw error;
        }
        this.log.debug({ attempt }, 'policies changed concurrently; planning again');
      }
    }
  }

  /** The whole resulting set must validate; throws INVALID_ARGUMENT with every problem otherwise. */
  private validate(plan: PolicyPlan, currentSize: number, options: ChangeOptions): { policySet: PolicySet; warnings: PolicyError[] } {
    const located: LocatedDocument[] = [...plan.entries];
    const references = this.referenceCheck((index) => plan.entries[index]?.changed ?? false);
    const errors: PolicyError[] = [...this.trustDomainErrors(plan.entries)];
    if (options.refuseEmptying && plan.entries.length === 0 && currentSize > 0) {
      throw new ServiceError(
        'INVALID_ARGUMENT',
        `refusing to replace the ${currentSize} policies in force with an empty set (that deletes them all); send force=true (accord apply --prune --force) if you mean it`,
      );
    }
    const result = validatePolicySet(located, errors, options.unknownReferences === 'error' ? { serviceReferences: references } : {});
    if (!result.ok) return this.rejected(result.errors, options.dryRun ? 'dry-run' : options.origin);
    const warnings = options.unknownReferences === 'warning' ? findUnknownServiceReferences(located, references) : [];
    if (warnings.length > 0) this.log.warn({ warnings: warnings.map(formatPolicyError) }, 'policies name services nothing registered (yet)');
    return { policySet: result.policySet, warnings };
  }

  private rejected(errors: readonly PolicyError[], origin: 'api' | 'files' | 'dry-run'): never {
    // A dry run asks a question; its answer changes nothing, readiness included.
    if (origin !== 'dry-run') {
      this.deps.onRejected(errors);
      const message = origin === 'files' ? 'policy files rejected; the previous policy stays in force' : 'policy change rejected; the previous policy stays in force';
      this.log[origin === 'files' ? 'error' : 'warn']({ problems: errors.length, errors: errors.slice(0, 20).map(formatPolicyError) }, message);
    }
    throw new ServiceError('INVALID_ARGUMENT', `${errors.length} problem(s) in the policy documents; nothing applied`, errors);
  }

  /** The CA's trust domain is fixed when it starts; a Mesh asking for another would silently not get it. */
  private trustDomainErrors(entries: readonly PolicyEntry[]): PolicyError[] {
    const inForce = this.deps.trustDomain();
    return entries
      .filter((entry) => entry.changed && entry.document.kind === 'Mesh')
      .flatMap((entry) => {
        const asked = entry.document.kind === 'Mesh' ? entry.document.spec.trustDomain : undefined;
        if (asked === undefined || asked === inForce) return [];
        return [
          errorAt(entry.source, ['spec', 'trustDomain'], `the CA serves trust domain "${inForce}"; it cannot change while running (restart with --trust-domain ${asked} and a new CA, or leave trustDomain out)`),
        ];
      });
  }

  private referenceCheck(checkDocument: (index: number) => boolean): ServiceReferenceCheck {
    const registered = new Set<string>();
    const serviceAccounts = new Set<string>();
    for (const workload of this.deps.snapshot().workloads.values()) {
      registered.add(`${workload.namespace}/${workload.service}`);
      serviceAccounts.add(`${workload.namespace}/${workload.serviceAccount}`);
    }
    return { registered, serviceAccounts, trustDomain: this.deps.trustDomain(), checkDocument };
  }

  /** The set in force. Unreadable stored documents (written by another version) fail, unless they are about to be replaced whole. */
  private async inForce(replacing = false): Promise<{ entries: PolicyEntry[]; revision: number }> {
    const record = await this.deps.store.getPolicies();
    const read = readStoredPolicies(record.docs, record.revision);
    if (read.ok) return { entries: read.entries, revision: record.revision };
    if (replacing) {
      this.log.warn({ reason: read.message }, 'replacing stored policies this version cannot read');
      return { entries: [], revision: record.revision };
    }
    throw new ServiceError('UNAVAILABLE', `${read.message}; replace them whole with PUT /v1/policies (accord apply --prune)`);
  }

  private refuseWhenManaged(): void {
    if (this.deps.managedBy) {
      throw new ServiceError('CONFLICT', `policies are managed by --config ${this.deps.managedBy}; change the files there`);
    }
  }

  private parseBody(body: unknown, dryRun: boolean, single: boolean): LocatedDocument[] {
    let result: PolicyLoadResult;
    if (typeof body === 'string') {
      result = parsePolicyStream(body, REQUEST_SOURCE);
    } else if (Array.isArray(body)) {
      result = parsePolicyDocuments(body, REQUEST_SOURCE);
    } else if (single && typeof body === 'object' && body !== null) {
      result = parsePolicyDocuments([body], REQUEST_SOURCE);
    } else {
      throw new ServiceError('INVALID_ARGUMENT', single ? 'send one policy document (YAML or a JSON object)' : 'a JSON body must be an array of policy documents');
    }
    if (!result.ok) return this.rejected(result.errors, dryRun ? 'dry-run' : 'api');
    return [...result.located];
  }

  private parseKey(raw: unknown, field: string): PolicyKey {
    const value = (raw ?? {}) as { kind?: unknown; namespace?: unknown; name?: unknown };
    const kind = typeof value.kind === 'string' ? policyKindNamed(value.kind) : undefined;
    if (kind === undefined || !isPolicyKind(kind)) {
      throw new ServiceError('INVALID_ARGUMENT', `unknown policy kind ${JSON.stringify(value.kind)}; expected one of ${POLICY_KINDS.join(', ')}`, [
        { field: `${field}.kind`, message: `expected one of ${POLICY_KINDS.join(', ')}` },
      ]);
    }
    const name = typeof value.name === 'string' && value.name.length > 0 && value.name.length <= 253 ? value.name : undefined;
    if (name === undefined) throw new ServiceError('INVALID_ARGUMENT', 'a policy name is required', [{ field: `${field}.name`, message: 'expected a name' }]);
    const namespace = value.namespace === undefined || value.namespace === '' ? 'default' : value.namespace;
    if (typeof namespace !== 'string' || namespace.length > 253) {
      throw new ServiceError('INVALID_ARGUMENT', 'namespace must be a name', [{ field: `${field}.namespace`, message: 'expected a name' }]);
    }
    return { kind, namespace, name };
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

function summarize(changes: readonly PolicyChange[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const change of changes) counts[change.action] = (counts[change.action] ?? 0) + 1;
  return counts;
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
