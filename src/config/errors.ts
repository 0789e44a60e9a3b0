/** Problems found in policy documents, each tied to where the operator can fix it. */

export type PathSegment = string | number;
export type FieldPath = readonly PathSegment[];

export interface PolicyError {
  /** The file (or the source name given by the caller, e.g. `PUT /v1/policies`). */
  readonly file: string;
  /** 1-based; 0 when the position is unknown (documents that did not come from text). */
  readonly line: number;
  /** 1-based; 0 when the position is unknown. */
  readonly column: number;
  /** Field path inside the document, e.g. `spec.retries.attempts`; empty for the whole document. */
  readonly path: string;
  readonly message: string;
  /** 0-based index of the document within its source, when the error is about one document. */
  readonly document?: number;
}

import { clip } from '../core/quote.js';

export { QUOTED_INPUT_LIMIT, clip } from '../core/quote.js';

/** `spec.rules[0].from[1].service` */
export function formatFieldPath(path: FieldPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? clip(segment) : `.${clip(segment)}`;
  }
  return text;
}

/** The inverse of `formatFieldPath`: `spec.rules[0].from[1].service` → ['spec', 'rules', 0, 'from', 1, 'service']. */
export function parseFieldPath(text: string): FieldPath {
  const path: PathSegment[] = [];
  for (const match of text.matchAll(/([^.[\]]+)|\[(\d+)\]/g)) {
    if (match[2] !== undefined) path.push(Number(match[2]));
    else if (match[1] !== undefined) path.push(match[1]);
  }
  return path;
}

/**
 * One line per error: `file:line:column: path: message`. Without a position (documents that
 * came as JSON values) the document number stands in: `file: document 3: path: message`.
 */
export function formatPolicyError(error: PolicyError): string {
  let where = error.file;
  if (error.line > 0) where += `:${error.line}:${error.column}`;
  else if (error.document !== undefined) where += `: document ${error.document + 1}`;
  return error.path === '' ? `${where}: ${error.message}` : `${where}: ${error.path}: ${error.message}`;
}

/** Stable order for reports: by file, position, document, then path. */
export function comparePolicyErrors(a: PolicyError, b: PolicyError): number {
  if (a.file !== b.file) return a.file < b.file ? -1 : 1;
  if (a.line !== b.line) return a.line - b.line;
  if (a.column !== b.column) return a.column - b.column;
  if (a.document !== b.document) return (a.document ?? -1) - (b.document ?? -1);
  return a.path < b.path ? -1 : a.path > b.path ? 1 : 0;
}
