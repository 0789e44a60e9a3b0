/**
 * Policy changes, planned without I/O: the set in force plus an operation (apply some documents,
 * replace the whole set, delete some objects) gives the next set and what happens to each object,
 * keyed by kind/namespace/name like `kubectl apply`. Each object carries the store revision of its
 * last change; objects changed by the pending write have none until the store assigns one.
 */
import type { PolicyDocument } from '../core/policy.js';
import { documentToJson, parsePolicyDocuments, positionlessSource, type LocatedDocument, type PolicyDocumentJson } from '../config/index.js';

export interface PolicyKey {
  readonly kind: PolicyDocument['kind'];
  readonly namespace: string;
  readonly name: string;
}

export type ChangeAction = 'created' | 'configured' | 'unchanged' | 'deleted';

export interface PolicyChange extends PolicyKey {
  readonly action: ChangeAction;
}

export interface PolicyEntry extends LocatedDocument {
  /** The document as stored (canonical JSON, without the revision). */
  readonly json: PolicyDocumentJson;
  /** Store revision of the object's last change; undefined while its change is pending. */
  readonly revision: number | undefined;
  /** Created or changed by the pending operation (checks that concern new input run on these only). */
  readonly changed: boolean;
}

export interface PolicyPlan {
  readonly entries: readonly PolicyEntry[];
  readonly changes: readonly PolicyChange[];
}

export function keyOf(document: PolicyDocument): PolicyKey {
  return { kind: document.kind, namespace: document.metadata.namespace, name: document.metadata.name };
}

export function keyText(key: PolicyKey): string {
  return `${key.kind} ${key.namespace}/${key.name}`;
}

function sameContent(a: PolicyDocumentJson, b: PolicyDocumentJson): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Where in-force documents "are" in error messages: they have no file, only an index in the stored set. */
export const IN_FORCE_SOURCE = 'policies in force';

/**
 * Reads the stored set: every document is validated again (the store may have been written by
 * another version) and its revision taken from `metadata.revision`, or the record's own revision
 * when absent (it changed in the write that produced the record).
 */
export function readStoredPolicies(
  docs: readonly unknown[],
  recordRevision: number,
): { readonly ok: true; readonly entries: PolicyEntry[] } | { readonly ok: false; readonly message: string } {
  const parsed = parsePolicyDocuments(docs, IN_FORCE_SOURCE);
  if (!parsed.ok) return { ok: false, message: `the stored policies do not validate (${parsed.errors.length} problem(s))` };
  const entries = parsed.documents.map((document, index): PolicyEntry => {
    const stored = docs[index] as { metadata?: { revision?: unknown } } | undefined;
    const revision = typeof stored?.metadata?.revision === 'number' ? stored.metadata.revision : recordRevision;
    return { document, source: positionlessSource(IN_FORCE_SOURCE, index), json: documentToJson(document), revision, changed: false };
  });
  return { ok: true, entries };
}

/** What the store keeps: canonical documents, each with the revision of its last change when known. */
export function toStoredPolicies(entries: readonly PolicyEntry[]): unknown[] {
  return entries.map((entry) =>
    entry.revision === undefined ? entry.json : { ...entry.json, metadata: { ...entry.json.metadata, revision: entry.revision } },
  );
}

export type ListedPolicy = PolicyDocumentJson & { readonly metadata: PolicyDocumentJson['metadata'] & { readonly revision: number } };

/** The documents as listed by the API: each with its revision. */
export function listedPolicies(entries: readonly PolicyEntry[], recordRevision: number): ListedPolicy[] {
  return entries.map((entry) => ({ ...entry.json, metadata: { ...entry.json.metadata, revision: entry.revision ?? recordRevision } }));
}

function given(located: LocatedDocument, previous: PolicyEntry | undefined): { entry: PolicyEntry; action: ChangeAction } {
  const json = documentToJson(located.document);
  if (previous && sameContent(previous.json, json)) {
    // Unchanged: keep its revision, but point errors at the operator's copy.
    return { entry: { ...previous, source: located.source }, action: 'unchanged' };
  }
  return { entry: { ...located, json, revision: undefined, changed: true }, action: previous ? 'configured' : 'created' };
}

/** `kubectl apply`: create or update the given objects; every other object stays. */
export function planApply(current: readonly PolicyEntry[], documents: readonly LocatedDocument[]): PolicyPlan {
  const entries = [...current];
  const indexByKey = new Map(current.map((entry, index) => [keyText(keyOf(entry.document)), index]));
  const seen = new Set<string>();
  const changes: PolicyChange[] = [];
  for (const located of documents) {
    const key = keyOf(located.document);
    const text = keyText(key);
    const index = indexByKey.get(text);
    if (seen.has(text) || index === undefined) {
      // New, or given twice: appended, so validation reports a duplicate against the first copy.
      const { entry, action } = given(located, undefined);
      entries.push(entry);
      if (!seen.has(text)) changes.push({ ...key, action });
    } else {
      const { entry, action } = given(located, entries[index]);
      entries[index] = entry;
      changes.push({ ...key, action });
    }
    seen.add(text);
  }
  return { entries, changes };
}

/** The given documents become the whole set; objects not among them are deleted (`--prune`, `--config DIR`). */
export function planReplace(current: readonly PolicyEntry[], documents: readonly LocatedDocument[]): PolicyPlan {
  const byKey = new Map(current.map((entry) => [keyText(keyOf(entry.document)), entry]));
  const seen = new Set<string>();
  const entries: PolicyEntry[] = [];
  const changes: PolicyChange[] = [];
  for (const located of documents) {
    const key = keyOf(located.document);
    const text = keyText(key);
    const { entry, action } = given(located, seen.has(text) ? undefined : byKey.get(text));
    entries.push(entry);
    if (!seen.has(text)) changes.push({ ...key, action });
    seen.add(text);
  }
  for (const entry of current) {
    const key = keyOf(entry.document);
    if (!seen.has(keyText(key))) changes.push({ ...key, action: 'deleted' });
  }
  return { entries, changes };
}

/** Deletes the named objects; `missing` lists the ones that are not in force. */
export function planDelete(current: readonly PolicyEntry[], keys: readonly PolicyKey[]): PolicyPlan & { readonly missing: readonly PolicyKey[] } {
  const wanted = new Map(keys.map((key) => [keyText(key), key]));
  const entries = current.filter((entry) => !wanted.has(keyText(keyOf(entry.document))));
  const present = new Set(current.map((entry) => keyText(keyOf(entry.document))));
  const changes: PolicyChange[] = [...wanted.values()].filter((key) => present.has(keyText(key))).map((key) => ({ ...key, action: 'deleted' as const }));
  const missing = [...wanted.values()].filter((key) => !present.has(keyText(key)));
  return { entries, changes, missing };
}

export function isUnchanged(plan: PolicyPlan): boolean {
  return plan.changes.every((change) => change.action === 'unchanged');
}
