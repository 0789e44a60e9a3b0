/**
 * Where a document came from, and how to turn a field path inside it back into a line and
 * column. Documents parsed from YAML (or JSON) text have positions; documents handed over as
 * values (from a store, or an already-parsed JSON body) do not, and report line 0.
 */
import { isAlias, isMap, isNode, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';
import type { FieldPath } from './errors.js';

export interface Position {
  readonly line: number;
  readonly column: number;
}

export const UNKNOWN_POSITION: Position = { line: 0, column: 0 };

export interface DocumentSource {
  readonly file: string;
  /** 0-based index of the document within its file or stream. */
  readonly index: number;
  /**
   * The position of the field at `path`: a scalar value's own position, a mapping's or list's
   * key (the value of a block collection starts on a later line). For a field that is absent,
   * the nearest ancestor that is present. With `key`, the key of the field itself (used for
   * unknown fields).
   */
  locate(path: FieldPath, options?: { readonly key?: boolean }): Position;
}

export function positionlessSource(file: string, index: number): DocumentSource {
  return { file, index, locate: () => UNKNOWN_POSITION };
}

interface Resolved {
  /** The deepest node reached along the path. */
  readonly node: Node | undefined;
  /** The mapping key under which that node sits, if it sits under one. */
  readonly keyNode: Node | undefined;
  /** Whether the whole path was found. */
  readonly complete: boolean;
}

function resolvePath(root: Node | undefined, path: FieldPath, yamlDocument: Document): Resolved {
  let node = root;
  let keyNode: Node | undefined;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(yamlDocument) ?? undefined;
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return { node, keyNode, complete: false };
      keyNode = isNode(pair.key) ? pair.key : undefined;
      node = isNode(pair.value) ? pair.value : undefined;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (!isNode(item)) return { node, keyNode, complete: false };
      keyNode = undefined;
      node = item;
    } else {
      return { node, keyNode, complete: false };
    }
  }
  return { node, keyNode, complete: true };
}

/** A scalar (or alias) with a value of its own; `key:` with nothing after it is not one. */
function hasOwnValue(node: Node | undefined): boolean {
  if (isAlias(node)) return true;
  return isScalar(node) && node.value !== null;
}

export function yamlNodeSource(
  file: string,
  index: number,
  root: Node | null,
  yamlDocument: Document,
  lineCounter: LineCounter,
): DocumentSource {
  const at = (node: Node | undefined): Position | undefined => {
    const offset = node?.range?.[0];
    if (offset === undefined) return undefined;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };

  return {
    file,
    index,
    locate(path, options = {}) {
      const { node, keyNode, complete } = resolvePath(root ?? undefined, path, yamlDocument);
      const pointAtValue = complete && !options.key && hasOwnValue(node);
      return (pointAtValue ? at(node) : (at(keyNode) ?? at(node))) ?? at(root ?? undefined) ?? UNKNOWN_POSITION;
    },
  };
}
