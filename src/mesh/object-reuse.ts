import { deepFreeze } from '../core/deep-freeze.js';
import type { ServicePieces } from './service-pieces.js';
import type { Resource, Translation } from './types.js';

/**
 * Keeping object identity for unchanged content, so a consumer can cache encodings by identity
 * and a rebuild that changes one resource does not look like a change to all of them.
 */

/** Same length and the very same elements (inputs are immutable, so identity implies equal content). */
export function sameElements(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameIfEqual<T>(fresh: T, old: T | undefined): T {
  return old !== undefined && deepEqual(old, fresh) ? old : fresh;
}

/**
 * Structural equality of plain JSON-like values (objects, arrays, Maps, primitives). Shared
 * sub-objects (frozen pieces reused across builds) compare by identity first, so comparing a
 * rebuilt resource with its predecessor costs only the parts that were rebuilt.
 */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    for (const [key, value] of a) if (!b.has(key) || !deepEqual(value, b.get(key))) return false;
    return true;
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let count = 0;
  for (const key in left) {
    if (!Object.hasOwn(left, key)) continue;
    count++;
    if (!Object.hasOwn(right, key) || !deepEqual(left[key], right[key])) return false;
  }
  for (const key in right) if (Object.hasOwn(right, key)) count--;
  return count === 0;
}

/**
 * Each fresh resource, or its predecessor of the same name when equal; the previous map itself
 * when every resource and the order are unchanged, so a consumer sees an unchanged type by identity.
 */
function reuseByName(fresh: ReadonlyMap<string, Resource>, previous: ReadonlyMap<string, Resource> | undefined): ReadonlyMap<string, Resource> {
  const out = new Map<string, Resource>();
  let allKept = previous !== undefined && previous.size === fresh.size;
  const previousNames = previous?.keys();
  for (const [name, resource] of fresh) {
    const kept = sameIfEqual(resource, previous?.get(name));
    out.set(name, kept);
    if (allKept && (kept !== previous?.get(name) || previousNames?.next().value !== name)) allKept = false;
  }
  return allKept && previous !== undefined ? previous : out;
}

export function reuseUnchangedPieces(fresh: ServicePieces, previous: ServicePieces): ServicePieces {
  return deepFreeze({
    ...fresh,
    routeConfig: fresh.routeConfig && sameIfEqual(fresh.routeConfig, previous.routeConfig),
    clusters: reuseByName(fresh.clusters, previous.clusters),
    loadAssignments: reuseByName(fresh.loadAssignments, previous.loadAssignments),
  });
}

export function reuseUnchangedResources(fresh: Translation, previous: Translation): Translation {
  const resources = new Map([...fresh.resources].map(([type, byName]) => [type, reuseByName(byName, previous.resources.get(type))]));
  return deepFreeze({ resources, notes: fresh.notes });
}
