/**
 * The check that policies refer to services that exist. A reference is known when a workload of
 * that service is registered, or when another document names the same service (policies are
 * often written before the workloads register, and then name each other). Anything else is most
 * likely a typo — `target: paymnets` would otherwise quietly take payments' ALLOW rule away — and
 * is reported with the nearest known name. A document annotated
 * `accord.dev/allow-unknown-targets: "true"` is not checked. Whether a finding is an error or a
 * warning is the caller's choice (the API refuses, a watched directory only warns).
 */
import { distance } from 'fastest-levenshtein';
import { ALLOW_UNKNOWN_TARGETS_ANNOTATION, type PolicyDocument } from '../core/policy.js';
import { serviceKey } from '../core/workload.js';
import type { FieldPath, PolicyError } from './errors.js';
import { errorAt } from './issues.js';
import { positionlessSource } from './source.js';
import type { LocatedDocument } from './assemble.js';

export interface ServiceReferenceCheck {
  /** `namespace/name` of the services that have registered workloads. */
  readonly registered: ReadonlySet<string>;
  /** `namespace/serviceAccount` of registered workloads, for `from: [{ spiffeId }]` callers. */
  readonly serviceAccounts?: ReadonlySet<string>;
  /** `spiffe://` callers in this trust domain are checked; others are left alone. */
  readonly trustDomain?: string;
  /** Which documents (by index) to check; the others still count as naming services. Default: all. */
  readonly checkDocument?: (index: number) => boolean;
}

type ReferenceKind = 'service' | 'namespace' | 'serviceAccount';

interface Reference {
  readonly kind: ReferenceKind;
  readonly path: FieldPath;
  readonly namespace: string;
  /** The service or service account; empty for namespace references. */
  readonly name: string;
}

const SPIFFE_WORKLOAD = /^spiffe:\/\/([^/]+)\/ns\/([^/]+)\/sa\/([^/]+)$/;

function keyOf(reference: Reference): string {
  return reference.kind === 'namespace' ? reference.namespace : serviceKey(reference.namespace, reference.name);
}

/** Every service, namespace or service account a document refers to, with where. */
function referencesOf(document: PolicyDocument, trustDomain: string | undefined): Reference[] {
  const namespace = document.metadata.namespace;
  const service = (path: FieldPath, ns: string, name: string): Reference => ({ kind: 'service', path, namespace: ns, name });
  switch (document.kind) {
    case 'Mesh':
      return [];
    case 'TrafficPolicy':
      return [service(['spec', 'target'], namespace, document.spec.target)];
    case 'AuthorizationPolicy':
      return [
        service(['spec', 'target'], namespace, document.spec.target),
        ...document.spec.rules.flatMap((rule, r) =>
          (rule.from ?? []).flatMap((caller, c): Reference[] => {
            const path: FieldPath = ['spec', 'rules', r, 'from', c];
            if ('spiffeId' in caller) {
              const match = SPIFFE_WORKLOAD.exec(caller.spiffeId);
              if (!match || match[1] !== trustDomain) return [];
              return [{ kind: 'serviceAccount', path: [...path, 'spiffeId'], namespace: match[2] as string, name: match[3] as string }];
            }
            if ('service' in caller) return [service([...path, 'service'], caller.namespace ?? namespace, caller.service)];
            return [{ kind: 'namespace', path: [...path, 'namespace'], namespace: caller.namespace, name: '' }];
          }),
        ),
      ];
    case 'UpstreamPolicy':
      return [
        service(['spec', 'source'], namespace, document.spec.source),
        ...document.spec.upstreams.map((upstream, index) => service(['spec', 'upstreams', index, 'service'], upstream.namespace ?? namespace, upstream.service)),
      ];
    case 'Gateway':
      return [];
    case 'HTTPRoute':
      return document.spec.rules.flatMap((rule, r) =>
        rule.backendRefs.map((backend, b) => service(['spec', 'rules', r, 'backendRefs', b, 'name'], backend.namespace, backend.name)),
      );
  }
}

/**
 * The closest candidate within a typo's distance, if any: one edit for names of up to 3
 * characters, else a third of the name but at least 2 (a swapped pair of letters is 2 edits).
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const limit = name.length <= 3 ? 1 : Math.max(2, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of [...new Set(candidates)].sort()) {
    if (candidate === name) continue;
    const d = distance(name, candidate);
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function isIntentional(document: PolicyDocument): boolean {
  return document.metadata.annotations?.[ALLOW_UNKNOWN_TARGETS_ANNOTATION] === 'true';
}

const WHAT: Record<ReferenceKind, string> = { service: 'service', namespace: 'namespace', serviceAccount: 'service account' };

export function findUnknownServiceReferences(located: readonly LocatedDocument[], check: ServiceReferenceCheck): PolicyError[] {
  const referencesByDocument = located.map(({ document }) => referencesOf(document, check.trustDomain));
  // Which documents name each service, namespace and service account.
  const namedBy = new Map<string, Set<number>>();
  const name = (kind: ReferenceKind, key: string, index: number): void => {
    const mapKey = `${kind} ${key}`;
    let documents = namedBy.get(mapKey);
    if (!documents) namedBy.set(mapKey, (documents = new Set()));
    documents.add(index);
  };
  // Namespaces that policies live in are known: a policy in `shop` allowing callers from `shop` means it.
  const policyNamespaces = new Set(located.map(({ document }) => document.metadata.namespace));
  located.forEach((_, index) => {
    for (const reference of referencesByDocument[index] ?? []) {
      name(reference.kind, keyOf(reference), index);
      if (reference.kind === 'service') name('namespace', reference.namespace, index);
    }
  });
  const registeredNamespaces = new Set([...check.registered].map((key) => key.slice(0, key.indexOf('/'))));
  /** Named by a document other than `index`. */
  const namedElsewhere = (kind: ReferenceKind, key: string, index: number): boolean =>
    [...(namedBy.get(`${kind} ${key}`) ?? [])].some((other) => other !== index);
  const namedKeys = (kind: ReferenceKind, index: number): string[] =>
    [...namedBy.keys()]
      .filter((mapKey) => mapKey.startsWith(`${kind} `))
      .map((mapKey) => mapKey.slice(kind.length + 1))
      .filter((key) => namedElsewhere(kind, key, index));

  const isKnown = (reference: Reference, index: number): boolean => {
    const key = keyOf(reference);
    switch (reference.kind) {
      case 'service':
        return check.registered.has(key) || namedElsewhere('service', key, index);
      case 'namespace':
        return registeredNamespaces.has(key) || policyNamespaces.has(key) || namedElsewhere('namespace', key, index);
      case 'serviceAccount':
        // A service account defaults to the service's name.
        return (check.serviceAccounts?.has(key) ?? false) || check.registered.has(key) || namedElsewhere('service', key, index);
    }
  };

  /** Names a typo may have meant: known namespaces, or known services (and accounts) in the reference's namespace. */
  const candidates = (reference: Reference, index: number): string[] => {
    if (reference.kind === 'namespace') return [...registeredNamespaces, ...policyNamespaces, ...namedKeys('namespace', index)];
    const keys = [...check.registered, ...namedKeys('service', index)];
    if (reference.kind === 'serviceAccount') keys.push(...(check.serviceAccounts ?? []));
    const prefix = `${reference.namespace}/`;
    return keys.filter((key) => key.startsWith(prefix)).map((key) => key.slice(prefix.length));
  };

  const errors: PolicyError[] = [];
  located.forEach(({ document, source }, index) => {
    if (isIntentional(document) || !(check.checkDocument?.(index) ?? true)) return;
    for (const reference of referencesByDocument[index] ?? []) {
      if (isKnown(reference, index)) continue;
      const name = reference.kind === 'namespace' ? reference.namespace : reference.name;
      const suggestion = closestName(name, candidates(reference, index));
      const hint = suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`;
      const what = WHAT[reference.kind];
      errors.push(
        errorAt(
          source,
          reference.path,
          `unknown ${what} "${keyOf(reference)}"${hint}: not registered and named by no other policy; if intended, ` +
            `annotate ${ALLOW_UNKNOWN_TARGETS_ANNOTATION}: "true" or use --allow-unknown-targets`,
        ),
      );
    }
  });
  return errors;
}

/**
 * The same check for documents already accepted (e.g. re-run when the registry changes), where
 * positions are not known: errors name the document by its index in `documents`.
 */
export function checkKnownServices(
  documents: readonly PolicyDocument[],
  knownServices: ReadonlySet<string>,
  sourceName = 'policies',
): PolicyError[] {
  return findUnknownServiceReferences(
    documents.map((document, index) => ({ document, source: positionlessSource(sourceName, index) })),
    { registered: knownServices },
  );
}
