import { digest } from '../core/digest.js';

/** JSON with object keys sorted, so equal values always serialise to equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v instanceof Map) return Object.fromEntries([...v.entries()].sort(([a], [b]) => compareStrings(String(a), String(b))));
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const record = v as Record<string, unknown>;
      return Object.fromEntries(Object.keys(record).sort(compareStrings).map((k) => [k, record[k]]));
    }
    return v;
  });
}

export function stableHash(value: unknown): string {
  return digest('sha256', canonicalJson(value), 'base64url');
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
