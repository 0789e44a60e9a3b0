/** Policy files on disk: one file, or every `*.yaml` / `*.yml` file directly inside a directory. */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PolicyError } from './errors.js';
import { validatePolicyDocuments, type PolicyLoadResult, type PolicyParseOptions } from './parse.js';
import { readYamlStream, type RawDocument, type YamlStream } from './yaml-stream.js';

/** Hidden files (editor swap files, Kubernetes ConfigMap `..data` links) are not policies. */
export function isPolicyFileName(name: string): boolean {
  return !name.startsWith('.') && (name.endsWith('.yaml') || name.endsWith('.yml'));
}

function errorCode(cause: unknown): string | undefined {
  return typeof cause === 'object' && cause !== null && 'code' in cause ? String((cause as { code: unknown }).code) : undefined;
}

function readError(file: string, cause: unknown): PolicyError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return { file, line: 0, column: 0, path: '', message: `cannot read policies: ${reason}` };
}

interface FileReading {
  readonly documents: readonly RawDocument[];
  readonly errors: readonly PolicyError[];
}

async function readPolicyText(file: string, missingIsEmpty: boolean): Promise<FileReading> {
  try {
    return readYamlStream(await readFile(file, 'utf8'), file);
  } catch (cause) {
    // A file listed a moment ago may be gone (an editor's save); its removal triggers another reload.
    if (missingIsEmpty && (errorCode(cause) === 'ENOENT' || errorCode(cause) === 'EISDIR')) return { documents: [], errors: [] };
    return { documents: [], errors: [readError(file, cause)] };
  }
}

function combine(readings: readonly FileReading[], options?: PolicyParseOptions): PolicyLoadResult {
  return validatePolicyDocuments(
    readings.flatMap((reading) => reading.documents),
    readings.flatMap((reading) => reading.errors),
    options,
  );
}

export async function loadPolicyFile(file: string, options?: PolicyParseOptions): Promise<PolicyLoadResult> {
  return combine([await readPolicyText(file, false)], options);
}

/** Files are read in name order, so document order (and error order) does not depend on the file system. */
export async function loadPolicyDirectory(directory: string, options?: PolicyParseOptions): Promise<PolicyLoadResult> {
  let names: string[];
  try {
    names = (await readdir(directory)).filter(isPolicyFileName).sort();
  } catch (cause) {
    return { ok: false, errors: [readError(directory, cause)] };
  }
  const readings = await Promise.all(names.map((name) => readPolicyText(join(directory, name), true)));
  return combine(readings, options);
}

/**
 * The raw documents of a file or a directory, not yet validated (a caller combining several paths
 * validates them as one set).
 */
export async function readPolicyPath(path: string): Promise<YamlStream> {
  try {
    if (!(await stat(path)).isDirectory()) return await readPolicyText(path, false);
    const names = (await readdir(path)).filter(isPolicyFileName).sort();
    const readings = await Promise.all(names.map((name) => readPolicyText(join(path, name), true)));
    return { documents: readings.flatMap((reading) => reading.documents), errors: readings.flatMap((reading) => reading.errors) };
  } catch (cause) {
    return { documents: [], errors: [readError(path, cause)] };
  }
}

/** A file or a directory, whichever `path` is (`accord serve --config PATH`). */
export async function loadPolicyPath(path: string, options?: PolicyParseOptions): Promise<PolicyLoadResult> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? await loadPolicyDirectory(path, options) : await loadPolicyFile(path, options);
  } catch (cause) {
    return { ok: false, errors: [readError(path, cause)] };
  }
}
