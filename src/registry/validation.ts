/**
 * Field checks shared by registration parsing and store-side workload validation.
 * Each check returns an error message or undefined; callers attach the field path.
 */
import { isIP } from 'node:net';
import { checkDns1123Label, checkDns1123Subdomain } from '../core/names.js';
import type { FieldError } from './errors.js';

export { checkDns1123Label, checkDns1123Subdomain };

const HOSTNAME_LABEL = /^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?$/;
// Kubernetes "qualified name" (label key name part) and label value syntax.
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** An IP literal (v4 or v6) or an RFC 1123 hostname. */
export function checkAddress(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return 'must not be empty';
  if (isIP(value) !== 0) return undefined;
  const host = value.endsWith('.') ? value.slice(0, -1) : value;
  if (host.length > 253) return 'hostname must be at most 253 characters';
  const labels = host.split('.');
  if (labels.some((l) => l.length === 0 || l.length > 63 || !HOSTNAME_LABEL.test(l))) {
    return 'must be an IP address or a hostname';
  }
  // "10.0.0.300" is neither an IP nor a plausible hostname: a numeric top-level label is never valid.
  if (/^[0-9]+$/.test(labels[labels.length - 1] ?? '')) return 'must be an IP address or a hostname';
  return undefined;
}

export function checkPort(value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) return 'must be an integer';
  if (value < 1 || value > 65535) return 'must be between 1 and 65535';
  return undefined;
}

/** Kubernetes label key: optional DNS-1123 subdomain prefix and "/", then a qualified name. */
export function checkLabelKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1) {
    const prefixError = checkDns1123Subdomain(key.slice(0, slash));
    if (prefixError !== undefined) return `prefix ${prefixError}`;
  }
  if (name.length === 0) return 'name must not be empty';
  if (name.length > 63) return 'name must be at most 63 characters';
  if (!QUALIFIED_NAME.test(name)) {
    return 'name must consist of alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric';
  }
  return undefined;
}

export function checkLabelValue(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length === 0) return undefined;
  if (value.length > 63) return 'must be at most 63 characters';
  if (!QUALIFIED_NAME.test(value)) {
    return 'must consist of alphanumerics, "-", "_" or ".", starting and ending with an alphanumeric';
  }
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Field path for a map entry: `labels["app.kubernetes.io/name"]`. */
export function entryPath(parent: string, key: string): string {
  return `${parent}[${JSON.stringify(key)}]`;
}

/** Collects every field error instead of stopping at the first. */
export class FieldErrors {
  private readonly list: FieldError[] = [];

  add(field: string, message: string | undefined): void {
    if (message !== undefined) this.list.push({ field, message });
  }

  get errors(): readonly FieldError[] {
    return this.list;
  }

  get empty(): boolean {
    return this.list.length === 0;
  }
}
