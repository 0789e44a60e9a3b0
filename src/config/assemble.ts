/**
 * Validated documents → the PolicySet in force. Rules that span documents live here: at most
 * one Mesh, unique names, one TrafficPolicy per service, no local port used twice for a source.
 */
import { DEFAULT_MESH, type PolicyDocument, type PolicySet } from '../core/policy.js';
import { serviceKey } from '../core/workload.js';
import type { FieldPath, PolicyError } from './errors.js';
import { errorAt } from './issues.js';
import type { DocumentSource } from './source.js';

export interface LocatedDocument {
  readonly document: PolicyDocument;
  readonly source: DocumentSource;
}

export type Assembly = { readonly ok: true; readonly policySet: PolicySet } | { readonly ok: false; readonly errors: readonly PolicyError[] };

/** What is in force when there are no policy documents at all. */
export const EMPTY_POLICY_SET: PolicySet = {
  mesh: DEFAULT_MESH,
  trafficPolicies: [],
  authorizationPolicies: [],
  upstreamPolicies: [],
  gateways: [],
  httpRoutes: [],
};

type Of<K extends PolicyDocument['kind']> = PolicyDocument & { kind: K };

/** "file:line:column", or "file document N" when positions are unknown. */
export function describeLocation(source: DocumentSource, path: FieldPath): string {
  const { line, column } = source.locate(path);
  return line > 0 ? `${source.file}:${line}:${column}` : `${source.file} document ${source.index + 1}`;
}

/** Reports every later occurrence of a key, pointing back at the first. */
function findDuplicates(
  located: readonly LocatedDocument[],
  keyOf: (document: PolicyDocument) => string | undefined,
  path: FieldPath,
  message: (item: LocatedDocument, firstAt: string) => string,
): PolicyError[] {
  const first = new Map<string, LocatedDocument>();
  const errors: PolicyError[] = [];
  for (const item of located) {
    const key = keyOf(item.document);
    if (key === undefined) continue;
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, item);
    else errors.push(errorAt(item.source, path, message(item, describeLocation(earlier.source, path))));
  }
  return errors;
}

function findLocalPortClashes(located: readonly LocatedDocument[]): PolicyError[] {
  const firstUse = new Map<string, string>();
  const errors: PolicyError[] = [];
  for (const { document, source } of located) {
    if (document.kind !== 'UpstreamPolicy') continue;
    document.spec.upstreams.forEach((upstream, index) => {
      const key = `${serviceKey(document.metadata.namespace, document.spec.source)}:${upstream.localPort}`;
      const path: FieldPath = ['spec', 'upstreams', index, 'localPort'];
      const earlier = firstUse.get(key);
      if (earlier === undefined) firstUse.set(key, describeLocation(source, path));
      else errors.push(errorAt(source, path, `localPort ${upstream.localPort} for source "${document.spec.source}" is already used at ${earlier}`));
    });
  }
  return errors;
}

/** An HTTPRoute attaches to Gateways of the set; a reference to none (or to a listener it lacks) would route nothing, so it is refused. */
function findDanglingParentRefs(located: readonly LocatedDocument[]): PolicyError[] {
  const gateways = new Map<string, Of<'Gateway'>>();
  for (const { document } of located) {
    if (document.kind === 'Gateway') gateways.set(serviceKey(document.metadata.namespace, document.metadata.name), document);
  }
  const errors: PolicyError[] = [];
  for (const { document, source } of located) {
    if (document.kind !== 'HTTPRoute') continue;
    document.spec.parentRefs.forEach((ref, index) => {
      const key = serviceKey(ref.namespace, ref.name);
      const gateway = gateways.get(key);
      const path: FieldPath = ['spec', 'parentRefs', index];
      if (gateway === undefined) {
        errors.push(errorAt(source, [...path, 'name'], `no Gateway "${key}" in the policy set; apply it before or with this route (or delete the route with it)`));
        return;
      }
      const listeners = gateway.spec.listeners.filter(
        (listener) => (ref.sectionName === undefined || listener.name === ref.sectionName) && (ref.port === undefined || listener.port === ref.port),
      );
      if (listeners.length > 0) return;
      const field = ref.sectionName !== undefined ? 'sectionName' : 'port';
      const names = gateway.spec.listeners.map((listener) => `${listener.name} (port ${listener.port})`).join(', ');
      errors.push(errorAt(source, [...path, field], `Gateway "${key}" has no listener matching this parentRef; its listeners: ${names}`));
    });
  }
  return errors;
}

function byNamespaceAndName(a: PolicyDocument, b: PolicyDocument): number {
  const left = serviceKey(a.metadata.namespace, a.metadata.name);
  const right = serviceKey(b.metadata.namespace, b.metadata.name);
  return left < right ? -1 : left > right ? 1 : 0;
}

function ofKind<K extends PolicyDocument['kind']>(documents: readonly PolicyDocument[], kind: K): Of<K>[] {
  return documents.filter((document): document is Of<K> => document.kind === kind).sort(byNamespaceAndName);
}

export function assemblePolicySet(located: readonly LocatedDocument[]): Assembly {
  const errors = [
    ...findDuplicates(
      located,
      (document) => (document.kind === 'Mesh' ? 'Mesh' : undefined),
      ['kind'],
      (_item, firstAt) => `at most one Mesh document is allowed; another one is at ${firstAt}`,
    ),
    ...findDuplicates(
      located,
      (document) => (document.kind === 'Mesh' ? undefined : `${document.kind} ${serviceKey(document.metadata.namespace, document.metadata.name)}`),
      ['metadata', 'name'],
      ({ document }, firstAt) =>
        `duplicate ${document.kind} "${serviceKey(document.metadata.namespace, document.metadata.name)}"; the first is at ${firstAt}`,
    ),
    ...findDuplicates(
      located,
      (document) => (document.kind === 'TrafficPolicy' ? serviceKey(document.metadata.namespace, document.spec.target) : undefined),
      ['spec', 'target'],
      ({ document }, firstAt) =>
        `service "${serviceKey(document.metadata.namespace, (document as Of<'TrafficPolicy'>).spec.target)}" already has a TrafficPolicy (at ${firstAt}); merge them into one`,
    ),
    ...findLocalPortClashes(located),
    ...findDanglingParentRefs(located),
  ];
  if (errors.length > 0) return { ok: false, errors };

  const documents = located.map((item) => item.document);
  const mesh = documents.find((document): document is Of<'Mesh'> => document.kind === 'Mesh');
  return {
    ok: true,
    policySet: {
      mesh: mesh ? { ...mesh.spec, trustDomain: mesh.spec.trustDomain ?? DEFAULT_MESH.trustDomain } : DEFAULT_MESH,
      trafficPolicies: ofKind(documents, 'TrafficPolicy'),
      authorizationPolicies: ofKind(documents, 'AuthorizationPolicy'),
      upstreamPolicies: ofKind(documents, 'UpstreamPolicy'),
      gateways: ofKind(documents, 'Gateway'),
      httpRoutes: ofKind(documents, 'HTTPRoute'),
    },
  };
}
