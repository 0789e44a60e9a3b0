import { digest } from '../core/digest.js';

/**
 * Content-derived versions: identical across replicas and restarts, so a proxy that reconnects
 * elsewhere is sent nothing it already has.
 */
export function contentVersion(bytes: Uint8Array): string {
  return digest('sha256', bytes, 'base64url').slice(0, 22);
}

/** The version of a set of resources: a hash of their names and versions, in name order. */
export function setVersion(entries: readonly { readonly name: string; readonly version: string }[]): string {
  const sorted = entries.length > 1 ? [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) : entries;
  // One update of the joined text hashes the same bytes as one update per piece, at half the cost.
  let text = '';
  for (const entry of sorted) text += `${entry.name}\0${entry.version}\n`;
  return digest('sha256', text, 'base64url').slice(0, 22);
}
