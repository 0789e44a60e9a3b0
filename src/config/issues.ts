/** Turns zod issues into PolicyErrors positioned in the document's source. */
import type { z } from 'zod';
import { clip, formatFieldPath, type FieldPath, type PolicyError } from './errors.js';
import type { DocumentSource } from './source.js';

function toFieldPath(path: readonly PropertyKey[]): FieldPath {
  return path.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
}

export function errorAt(source: DocumentSource, path: FieldPath, message: string, options?: { readonly key?: boolean }): PolicyError {
  const { line, column } = source.locate(path, options);
  return { file: source.file, line, column, path: formatFieldPath(path), message, document: source.index };
}

export function issuesToErrors(issues: readonly z.core.$ZodIssue[], source: DocumentSource): PolicyError[] {
  return issues.flatMap((issue) => {
    const path = toFieldPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      // One error per unknown field, pointing at the field's own key.
      return issue.keys.map((key) => errorAt(source, [...path, key], `unknown field "${clip(key)}"`, { key: true }));
    }
    return [errorAt(source, path, issue.message)];
  });
}
