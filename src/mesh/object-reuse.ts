import { deepFreeze } from './configurers/common.js';
import { canonicalJson } from './hash.js';
import type { ServicePieces } from './service-pieces.js';
import type { Resource, Translation } from './types.js';

/**
 * Keeping object identity for unchanged content, so a consumer can cache encodings by identity
 * and a rebuild that changes one resource does not look like a change to all of them.
 */

export function sameIfEqual<T>(fresh: T, old: T | undefined): T {
  return old !== undefined && old !== fresh && canonicalJson(old) === canonicalJson(fresh) ? old : fresh;
}

function reuseByName(fresh: ReadonlyMap<string, Resource>, previous: ReadonlyMap<string, Resource> | undefined): Map<string, Resource> {
  return new Map([...fresh].map(([name, resource]) => [name, sameIfEqual(resource, previous?.get(name))]));
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
