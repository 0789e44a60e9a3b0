/**
 * Policy files as the CLI reads them: files, directories or `-` (stdin), validated locally so
 * errors point at the operator's own lines; and the server's errors about the same documents
 * mapped back to those lines.
 */
import {
  POLICY_KINDS,
  documentToJson,
  errorAt,
  formatPolicyError,
  parseFieldPath,
  readPolicyPath,
  readYamlStream,
  validatePolicyDocuments,
  type DocumentSource,
  type LocatedDocument,
  type PolicyError,
  type RawDocument,
} from '../config/index.js';
import { CliError } from './client.js';

export const STDIN = '-';
/** The source name the server gives documents of a request (see src/app/policy-service.ts). */
const REQUEST_SOURCE = 'request';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readAll(paths: readonly string[]): Promise<{ documents: RawDocument[]; errors: PolicyError[] }> {
  const streams = await Promise.all(paths.map(async (path) => (path === STDIN ? readYamlStream(await readStdin(), '<stdin>') : readPolicyPath(path))));
  return { documents: streams.flatMap((stream) => stream.documents), errors: streams.flatMap((stream) => stream.errors) };
}

function fail(errors: readonly PolicyError[], paths: readonly string[], what: string): never {
  for (const error of errors) process.stderr.write(`${formatPolicyError(error)}\n`);
  throw new CliError(`${errors.length} problem(s) in ${paths.join(', ')}; nothing ${what}`);
}

/** Every document of every path, validated as one set; exits with every problem otherwise. */
export async function loadPolicies(paths: readonly string[]): Promise<readonly LocatedDocument[]> {
  const { documents, errors } = await readAll(paths);
  const result = validatePolicyDocuments(documents, errors);
  if (!result.ok) fail(result.errors, paths, 'applied');
  return result.located;
}

/** What the CLI sends: the validated documents in the operator format, in the order loaded (errors name them by index). */
export function toRequestDocuments(documents: readonly LocatedDocument[]): unknown[] {
  return documents.map((located) => documentToJson(located.document));
}

export interface PolicyKeyArg {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** Only what identifies each document (as `kubectl delete -f`): the rest of a document may be anything. */
export async function loadPolicyKeys(paths: readonly string[]): Promise<PolicyKeyArg[]> {
  const { documents, errors } = await readAll(paths);
  const keys: PolicyKeyArg[] = [];
  for (const { value, source } of documents) {
    const document = (typeof value === 'object' && value !== null ? value : {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    if (typeof document.kind !== 'string' || !(POLICY_KINDS as readonly string[]).includes(document.kind)) {
      errors.push(errorAt(source, ['kind'], `expected one of ${POLICY_KINDS.join(', ')}`));
      continue;
    }
    if (typeof document.metadata?.name !== 'string') {
      errors.push(errorAt(source, ['metadata', 'name'], 'required field is missing'));
      continue;
    }
    const namespace = typeof document.metadata.namespace === 'string' ? document.metadata.namespace : 'default';
    keys.push({ kind: document.kind, namespace, name: document.metadata.name });
  }
  if (errors.length > 0) fail(errors, paths, 'deleted');
  return keys;
}

function isPolicyError(detail: unknown): detail is PolicyError {
  return typeof detail === 'object' && detail !== null && typeof (detail as PolicyError).file === 'string' && typeof (detail as PolicyError).message === 'string';
}

/**
 * The server names the documents of a request by their index; these are ours, in the order we
 * sent them, so each error can point at the operator's file, line and column.
 */
export function localizeServerErrors(details: readonly unknown[], sent: readonly { readonly source: DocumentSource }[]): string[] {
  return details.map((detail) => {
    if (!isPolicyError(detail)) return JSON.stringify(detail);
    const ours = detail.file === REQUEST_SOURCE && detail.document !== undefined ? sent[detail.document] : undefined;
    if (!ours) return formatPolicyError(detail);
    const { line, column } = ours.source.locate(parseFieldPath(detail.path));
    return formatPolicyError({ ...detail, file: ours.source.file, line, column, document: ours.source.index });
  });
}

/** Prints a server rejection of our documents with local positions, then fails with one summary line. */
export function reportServerRejection(error: unknown, sent: readonly { readonly source: DocumentSource }[], what: string): never {
  if (error instanceof CliError && error.api && error.api.details.length > 0 && error.api.details.every(isPolicyError)) {
    for (const line of localizeServerErrors(error.api.details, sent)) process.stderr.write(`${line}\n`);
    throw new CliError(`${error.api.code}: ${error.api.message.replace(/; nothing applied$/, '')}; nothing ${what}`);
  }
  throw error;
}
