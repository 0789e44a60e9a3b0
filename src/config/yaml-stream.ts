/**
 * YAML text → document values, each with a source that maps field paths back to positions.
 * A stream holds any number of `---`-separated documents; a document whose root is a list
 * contributes each item as a policy document, which is how a JSON array is read too.
 */
import { LineCounter, isNode, isScalar, isSeq, parseAllDocuments, type Node } from 'yaml';
import { clip, type PolicyError } from './errors.js';
import { yamlNodeSource, type DocumentSource } from './source.js';

export interface RawDocument {
  readonly value: unknown;
  readonly source: DocumentSource;
}

export interface YamlStream {
  readonly documents: readonly RawDocument[];
  readonly errors: readonly PolicyError[];
}

/** Aliases may be used, but not to blow a small text up into a huge value. */
const MAX_ALIAS_COUNT = 100;

export function readYamlStream(text: string, file: string): YamlStream {
  const lineCounter = new LineCounter();
  const yamlDocuments = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  const documents: RawDocument[] = [];
  const errors: PolicyError[] = [];
  let index = 0;

  for (const yamlDocument of yamlDocuments) {
    if (yamlDocument.errors.length > 0) {
      for (const error of yamlDocument.errors) {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        const message = error.message.split('\n')[0] ?? error.message;
        errors.push({ file, line, column: col, path: '', message: `YAML syntax error: ${clip(message, 300)}` });
      }
      continue;
    }
    const root = yamlDocument.contents;
    // An empty document (a stray or trailing `---`, or only comments) holds nothing to apply.
    if (root === null || (isScalar(root) && root.value === null)) continue;

    let value: unknown;
    try {
      value = yamlDocument.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (cause) {
      const { line, col } = lineCounter.linePos(root.range?.[0] ?? 0);
      errors.push({ file, line, column: col, path: '', message: `YAML error: ${clip((cause as Error).message, 300)}` });
      continue;
    }

    if (isSeq(root) && Array.isArray(value)) {
      root.items.forEach((item, position) => {
        const node: Node | null = isNode(item) ? item : null;
        documents.push({ value: value[position], source: yamlNodeSource(file, index++, node, yamlDocument, lineCounter) });
      });
    } else {
      documents.push({ value, source: yamlNodeSource(file, index++, root, yamlDocument, lineCounter) });
    }
  }
  return { documents, errors };
}
