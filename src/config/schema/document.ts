/**
 * The document envelope (`apiVersion`, `kind`, `metadata`, `spec`) and dispatch to the spec
 * schema of each kind.
 */
import { z } from 'zod';
import {
  API_VERSION,
  GATEWAY_API_VERSION,
  type AuthorizationPolicySpec,
  type CallerMatch,
  type GatewaySpec,
  type HttpRouteSpec,
  type Metadata,
  type PolicyDocument,
  type UpstreamPolicySpec,
} from '../../core/policy.js';
import { authorizationPolicySpecSchema } from './authorization.js';
import { expecting, nonNegativeInt, objectName, oneOf, policyErrorMap, serviceName } from './common.js';
import { gatewaySpecSchema, httpRouteSpecSchema } from './gateway.js';
import { meshSpecSchema } from './mesh.js';
import { trafficPolicySpecSchema } from './traffic.js';
import { upstreamPolicySpecSchema } from './upstream.js';

export const POLICY_KINDS = ['Mesh', 'TrafficPolicy', 'AuthorizationPolicy', 'UpstreamPolicy', 'Gateway', 'HTTPRoute'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

/** The Kubernetes Gateway API kinds keep their own apiVersion, so documents written for Kubernetes apply unchanged. */
export function apiVersionOf(kind: PolicyKind): string {
  return kind === 'Gateway' || kind === 'HTTPRoute' ? GATEWAY_API_VERSION : API_VERSION;
}

export const DEFAULT_NAMESPACE = 'default';

/** Annotation keys look like Kubernetes' (`prefix/name`); sizes are bounded like every caller-supplied string. */
const ANNOTATION_KEY = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const MAX_ANNOTATIONS = 32;
const MAX_ANNOTATION_VALUE = 1024;

const annotationsSchema = z
  .record(
    z.string(expecting('an annotation key such as "accord.dev/allow-unknown-targets"')).regex(ANNOTATION_KEY, expecting('an annotation key such as "accord.dev/allow-unknown-targets"')),
    z.string(expecting('a string (quote "true", numbers and booleans)')).max(MAX_ANNOTATION_VALUE, expecting(`a string of at most ${MAX_ANNOTATION_VALUE} characters`)),
    expecting('a mapping of annotations'),
  )
  .refine((annotations) => Object.keys(annotations).length <= MAX_ANNOTATIONS, { message: `expected at most ${MAX_ANNOTATIONS} annotations` });

const metadataSchema = z
  .strictObject(
    {
      name: objectName(),
      namespace: serviceName().optional(),
      annotations: annotationsSchema.optional(),
      // Set by the server when it lists policies; accepted and ignored on apply, so a listing can be re-applied.
      revision: nonNegativeInt().optional(),
    },
    expecting('a mapping with name and namespace'),
  )
  .transform(
    (raw): Metadata => ({
      name: raw.name,
      namespace: raw.namespace ?? DEFAULT_NAMESPACE,
      ...(raw.annotations !== undefined && Object.keys(raw.annotations).length > 0 && { annotations: raw.annotations }),
    }),
  );

const anyApiVersionSchema = z.enum([API_VERSION, GATEWAY_API_VERSION], expecting(`"${API_VERSION}" or "${GATEWAY_API_VERSION}"`));

function envelope<K extends PolicyKind, S extends z.ZodType>(kind: K, spec: S) {
  const version = apiVersionOf(kind);
  return z.strictObject(
    { apiVersion: z.literal(version, expecting(`"${version}"`)), kind: z.literal(kind), metadata: metadataSchema, spec },
    expecting('a policy document (a mapping with apiVersion, kind, metadata and spec)'),
  );
}

/*
 * A service reference without a namespace means the policy's own namespace. The validated
 * documents spell it out, so nothing downstream has to know the rule.
 */
function withCallerNamespaces(spec: AuthorizationPolicySpec, namespace: string): AuthorizationPolicySpec {
  const resolve = (caller: CallerMatch): CallerMatch =>
    'service' in caller ? { service: caller.service, namespace: caller.namespace ?? namespace } : caller;
  return { ...spec, rules: spec.rules.map((rule) => (rule.from === undefined ? rule : { ...rule, from: rule.from.map(resolve) })) };
}

function withUpstreamNamespaces(spec: UpstreamPolicySpec, namespace: string): UpstreamPolicySpec {
  return { ...spec, upstreams: spec.upstreams.map((upstream) => ({ ...upstream, namespace: upstream.namespace ?? namespace })) };
}

function withGatewayNamespaces(spec: GatewaySpec, namespace: string): GatewaySpec {
  return {
    ...spec,
    listeners: spec.listeners.map((listener) =>
      listener.tls === undefined
        ? listener
        : { ...listener, tls: { ...listener.tls, certificateRefs: listener.tls.certificateRefs.map((ref) => ({ ...ref, namespace: ref.namespace || namespace })) } },
    ),
  };
}

function withRouteNamespaces(spec: HttpRouteSpec, namespace: string): HttpRouteSpec {
  return {
    ...spec,
    parentRefs: spec.parentRefs.map((ref) => ({ ...ref, namespace: ref.namespace || namespace })),
    rules: spec.rules.map((rule) => ({ ...rule, backendRefs: rule.backendRefs.map((ref) => ({ ...ref, namespace: ref.namespace || namespace })) })),
  };
}

const DOCUMENT_SCHEMAS = {
  Mesh: envelope('Mesh', meshSpecSchema.optional()).transform(
    (doc): PolicyDocument => ({ kind: 'Mesh', metadata: doc.metadata, spec: doc.spec ?? meshSpecSchema.parse({}) }),
  ),
  TrafficPolicy: envelope('TrafficPolicy', trafficPolicySpecSchema).transform(
    (doc): PolicyDocument => ({ kind: 'TrafficPolicy', metadata: doc.metadata, spec: doc.spec }),
  ),
  AuthorizationPolicy: envelope('AuthorizationPolicy', authorizationPolicySpecSchema).transform(
    (doc): PolicyDocument => ({ kind: 'AuthorizationPolicy', metadata: doc.metadata, spec: withCallerNamespaces(doc.spec, doc.metadata.namespace) }),
  ),
  UpstreamPolicy: envelope('UpstreamPolicy', upstreamPolicySpecSchema).transform(
    (doc): PolicyDocument => ({ kind: 'UpstreamPolicy', metadata: doc.metadata, spec: withUpstreamNamespaces(doc.spec, doc.metadata.namespace) }),
  ),
  Gateway: envelope('Gateway', gatewaySpecSchema).transform(
    (doc): PolicyDocument => ({ kind: 'Gateway', metadata: doc.metadata, spec: withGatewayNamespaces(doc.spec, doc.metadata.namespace) }),
  ),
  HTTPRoute: envelope('HTTPRoute', httpRouteSpecSchema).transform(
    (doc): PolicyDocument => ({ kind: 'HTTPRoute', metadata: doc.metadata, spec: withRouteNamespaces(doc.spec, doc.metadata.namespace) }),
  ),
} satisfies Record<PolicyKind, z.ZodType<PolicyDocument>>;

/** Used when `kind` is not one we know: still reports every other envelope problem. */
const unknownKindSchema = z.strictObject(
  { apiVersion: anyApiVersionSchema, kind: oneOf(POLICY_KINDS), metadata: metadataSchema, spec: z.unknown() },
  expecting('a policy document (a mapping with apiVersion, kind, metadata and spec)'),
);

function isPolicyKind(kind: unknown): kind is PolicyKind {
  return typeof kind === 'string' && (POLICY_KINDS as readonly string[]).includes(kind);
}

export type DocumentValidation =
  | { readonly ok: true; readonly document: PolicyDocument }
  | { readonly ok: false; readonly issues: readonly z.core.$ZodIssue[] };

/** Validates one document value (already parsed from YAML or JSON). */
export function validateDocument(raw: unknown): DocumentValidation {
  const kind = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>).kind : undefined;
  const schema = isPolicyKind(kind) ? DOCUMENT_SCHEMAS[kind] : unknownKindSchema;
  const result = schema.safeParse(raw, { error: policyErrorMap });
  if (result.success && isPolicyKind(kind)) return { ok: true, document: result.data as PolicyDocument };
  return { ok: false, issues: result.success ? [] : result.error.issues };
}
