/**
 * Entry points that validate a whole change: every document, then the set they form. The
 * result is all-or-nothing: any error and no documents are returned.
 */
import type { PolicyDocument, PolicySet } from '../core/policy.js';
import { assemblePolicySet, type LocatedDocument } from './assemble.js';
import { comparePolicyErrors, type PolicyError } from './errors.js';
import { issuesToErrors } from './issues.js';
import { validateDocument } from './schema/document.js';
import { findUnknownServiceReferences } from './services.js';
import { positionlessSource } from './source.js';
import { readYamlStream, type RawDocument } from './yaml-stream.js';

export type PolicyLoadResult =
  | { readonly ok: true; readonly documents: readonly PolicyDocument[]; readonly policySet: PolicySet }
  | { readonly ok: false; readonly errors: readonly PolicyError[] };

export interface PolicyParseOptions {
  /**
   * `namespace/name` keys of the services that exist. When given, policies that refer to any
   * other service are errors (see `checkKnownServices` to only warn instead).
   */
  readonly knownServices?: ReadonlySet<string>;
}

function failed(errors: readonly PolicyError[]): PolicyLoadResult {
  return { ok: false, errors: [...errors].sort(comparePolicyErrors) };
}

/** Validates raw documents and assembles them; `earlierErrors` (e.g. YAML syntax) fail the change too. */
export function validatePolicyDocuments(
  raw: readonly RawDocument[],
  earlierErrors: readonly PolicyError[],
  options: PolicyParseOptions = {},
): PolicyLoadResult {
  const errors: PolicyError[] = [...earlierErrors];
  const located: LocatedDocument[] = [];
  for (const { value, source } of raw) {
    const validation = validateDocument(value);
    if (validation.ok) located.push({ document: validation.document, source });
    else errors.push(...issuesToErrors(validation.issues, source));
  }
  // Rules across documents are checked among the valid ones even when others have errors, so
  // one round of fixes can address everything.
  const assembly = assemblePolicySet(located);
  if (!assembly.ok) errors.push(...assembly.errors);
  if (options.knownServices !== undefined) errors.push(...findUnknownServiceReferences(located, options.knownServices));
  if (errors.length > 0 || !assembly.ok) return failed(errors);

  return { ok: true, documents: located.map((item) => item.document), policySet: assembly.policySet };
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
