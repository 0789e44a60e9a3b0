/**
 * The optional check that policies refer to services that exist. Whether to enforce it is the
 * caller's choice: services register after policies are written, so a server may only warn.
 */
import type { PolicyDocument } from '../core/policy.js';
import { serviceKey } from '../core/workload.js';
import type { FieldPath, PolicyError } from './errors.js';
import { errorAt } from './issues.js';
import { positionlessSource } from './source.js';
import type { LocatedDocument } from './assemble.js';

interface ServiceReference {
  readonly path: FieldPath;
  readonly namespace: string;
  readonly service: string;
}

/** The services a document targets: TrafficPolicy and AuthorizationPolicy targets, UpstreamPolicy sources and upstreams. */
function serviceReferences(document: PolicyDocument): ServiceReference[] {
  const namespace = document.metadata.namespace;
  switch (document.kind) {
    case 'Mesh':
      return [];
    case 'TrafficPolicy':
    case 'AuthorizationPolicy':
      return [{ path: ['spec', 'target'], namespace, service: document.spec.target }];
    case 'UpstreamPolicy':
      return [
        { path: ['spec', 'source'], namespace, service: document.spec.source },
        ...document.spec.upstreams.map((upstream, index) => ({
          path: ['spec', 'upstreams', index, 'service'],
          namespace: upstream.namespace ?? namespace,
          service: upstream.service,
        })),
      ];
  }
}

export function findUnknownServiceReferences(located: readonly LocatedDocument[], knownServices: ReadonlySet<string>): PolicyError[] {
  return located.flatMap(({ document, source }) =>
    serviceReferences(document)
      .filter((reference) => !knownServices.has(serviceKey(reference.namespace, reference.service)))
      .map((reference) => errorAt(source, reference.path, `unknown service "${serviceKey(reference.namespace, reference.service)}"`)),
  );
}

/**
 * The same check for documents already accepted (e.g. re-run when the registry changes).
 * `knownServices` holds `namespace/name` keys. Positions are not known here, so errors name the
 * document by its index in `documents`.
 */
export function checkKnownServices(
  documents: readonly PolicyDocument[],
  knownServices: ReadonlySet<string>,
  sourceName = 'policies',
): PolicyError[] {
  return findUnknownServiceReferences(
    documents.map((document, index) => ({ document, source: positionlessSource(sourceName, index) })),
    knownServices,
  );
}
