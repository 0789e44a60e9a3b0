/**
 * Entry points that validate a whole change: every document, then the set they form. The
 * result is all-or-nothing: any error and no documents are returned.
 */
import type { PolicyDocument, PolicySet } from '../core/policy.js';
import { assemblePolicySet, type LocatedDocument } from './assemble.js';
import { comparePolicyErrors, type PolicyError } from './errors.js';
import { issuesToErrors } from './issues.js';
import { validateDocument } from './schema/document.js';
import { findUnknownServiceReferences, type ServiceReferenceCheck } from './services.js';
import { positionlessSource } from './source.js';
import { readYamlStream, type RawDocument } from './yaml-stream.js';

export type PolicyLoadResult =
  | {
      readonly ok: true;
      readonly documents: readonly PolicyDocument[];
      readonly policySet: PolicySet;
      /** The documents with where each came from (positions for errors found later, e.g. by the server). */
      readonly located: readonly LocatedDocument[];
    }
  | { readonly ok: false; readonly errors: readonly PolicyError[] };

export interface PolicyParseOptions {
  /**
   * `namespace/name` keys of the registered services. When given, a policy that refers to a
   * service neither registered nor named by another document is an error (see services.ts).
   */
  readonly knownServices?: ReadonlySet<string>;
  /** The same check with more to go on (service accounts, which documents to check). */
  readonly serviceReferences?: ServiceReferenceCheck;
}

function failed(errors: readonly PolicyError[]): PolicyLoadResult {
  return { ok: false, errors: [...errors].sort(comparePolicyErrors) };
}

/** Validates each raw document on its own; the valid ones come back located, the others as errors. */
export function validateEachDocument(raw: readonly RawDocument[]): { readonly located: LocatedDocument[]; readonly errors: PolicyError[] } {
  const errors: PolicyError[] = [];
  const located: LocatedDocument[] = [];
  for (const { value, source } of raw) {
    const validation = validateDocument(value);
    if (validation.ok) located.push({ document: validation.document, source });
    else errors.push(...issuesToErrors(validation.issues, source));
  }
  return { located, errors };
}

/**
 * Rules across documents over a whole set; `earlierErrors` (syntax, single documents) fail it too.
 * They run even when some documents had errors, so one round of fixes can address everything.
 */
export function validatePolicySet(
  located: readonly LocatedDocument[],
  earlierErrors: readonly PolicyError[],
  options: PolicyParseOptions = {},
): PolicyLoadResult {
  const errors: PolicyError[] = [...earlierErrors];
  const assembly = assemblePolicySet(located);
  if (!assembly.ok) errors.push(...assembly.errors);
  const references = options.serviceReferences ?? (options.knownServices !== undefined ? { registered: options.knownServices } : undefined);
  if (references !== undefined) errors.push(...findUnknownServiceReferences(located, references));
  if (errors.length > 0 || !assembly.ok) return failed(errors);
  return { ok: true, documents: located.map((item) => item.document), policySet: assembly.policySet, located };
}

/** Validates raw documents and assembles them; `earlierErrors` (e.g. YAML syntax) fail the change too. */
export function validatePolicyDocuments(
  raw: readonly RawDocument[],
  earlierErrors: readonly PolicyError[],
  options: PolicyParseOptions = {},
): PolicyLoadResult {
  const each = validateEachDocument(raw);
  return validatePolicySet(each.located, [...earlierErrors, ...each.errors], options);
}

/** A YAML stream (or a JSON array of documents) as sent to `PUT /v1/policies`. */
export function parsePolicyStream(text: string, sourceName: string, options?: PolicyParseOptions): PolicyLoadResult {
  const stream = readYamlStream(text, sourceName);
  return validatePolicyDocuments(stream.documents, stream.errors, options);
}

/** Document values (e.g. stored by another replica via `documentsToJson`, or a parsed JSON body). */
export function parsePolicyDocuments(values: readonly unknown[], sourceName: string, options?: PolicyParseOptions): PolicyLoadResult {
  return validatePolicyDocuments(
    values.map((value, index) => ({ value, source: positionlessSource(sourceName, index) })),
    [],
    options,
  );
}
