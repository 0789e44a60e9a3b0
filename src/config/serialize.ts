/**
 * Validated documents back to the operator's format (durations as strings, `ttl` rather than
 * `ttlMs`), as plain JSON. Stored this way, another replica re-validates them with
 * `parsePolicyDocuments` and gets the same documents back.
 */
import {
  type AuthorizationPolicySpec,
  type GatewaySpec,
  type HttpHeaderModifier,
  type HttpRouteFilter,
  type HttpRouteSpec,
  type MeshDocumentSpec,
  type PolicyDocument,
  type TrafficPolicySpec,
  type UpstreamPolicySpec,
} from '../core/policy.js';
import { formatDuration } from '../core/duration.js';
import { apiVersionOf } from './schema/document.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface PolicyDocumentJson {
  readonly apiVersion: string;
  readonly kind: PolicyDocument['kind'];
  readonly metadata: { readonly name: string; readonly namespace: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly spec: JsonObject;
}

/** Drops absent optional fields so the JSON has no `undefined` holes. */
function compact(entries: Record<string, JsonValue | undefined>): JsonObject {
  const result: JsonObject = {};
  for (const [key, value] of Object.entries(entries)) if (value !== undefined) result[key] = value;
  return result;
}

function optionalDuration(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : formatDuration(ms);
}

function meshToJson(spec: MeshDocumentSpec): JsonObject {
  return {
    ...(spec.trustDomain !== undefined && { trustDomain: spec.trustDomain }),
    mtls: spec.mtls,
    certificates: { ttl: formatDuration(spec.certificates.ttlMs), rotateAt: spec.certificates.rotateAt, jitter: spec.certificates.jitter },
    allowAnonymousConfig: spec.allowAnonymousConfig,
    debounce: { quiet: formatDuration(spec.debounce.quietMs), maxDelay: formatDuration(spec.debounce.maxDelayMs) },
  };
}

function trafficPolicyToJson(spec: TrafficPolicySpec): JsonObject {
  const { retries, loadBalancer, circuitBreakers, outlierDetection, split, locality } = spec;
  return compact({
    target: spec.target,
    connectTimeout: optionalDuration(spec.connectTimeoutMs),
    requestTimeout: optionalDuration(spec.requestTimeoutMs),
    retries:
      retries &&
      compact({ attempts: retries.attempts, perTryTimeout: optionalDuration(retries.perTryTimeoutMs), retryOn: [...retries.retryOn] }),
    loadBalancer:
      loadBalancer &&
      (loadBalancer.type === 'RING_HASH'
        ? { type: loadBalancer.type, hashKey: compact({ header: loadBalancer.hashKey.header, sourceIp: loadBalancer.hashKey.sourceIp }) }
        : { type: loadBalancer.type }),
    circuitBreakers: circuitBreakers && compact({ ...circuitBreakers }),
    outlierDetection:
      outlierDetection &&
      compact({
        consecutive5xx: outlierDetection.consecutive5xx,
        interval: optionalDuration(outlierDetection.intervalMs),
        baseEjectionTime: optionalDuration(outlierDetection.baseEjectionTimeMs),
        maxEjectionPercent: outlierDetection.maxEjectionPercent,
      }),
    split: split?.map((subset) => ({ name: subset.name, labels: { ...subset.labels }, weight: subset.weight })),
    locality:
      locality &&
      compact({
        enabled: locality.enabled,
        distribute: locality.distribute?.map((rule) => ({ from: rule.from, to: { ...rule.to } })),
        failover: locality.failover?.map((rule) => ({ from: rule.from, to: rule.to })),
      }),
  });
}

function authorizationPolicyToJson(spec: AuthorizationPolicySpec): JsonObject {
  return {
    target: spec.target,
    action: spec.action,
    rules: spec.rules.map((rule) =>
      compact({
        from: rule.from?.map((caller) => compact({ ...caller })),
        to: rule.to?.map((match) => compact({ methods: match.methods && [...match.methods], paths: match.paths && [...match.paths] })),
      }),
    ),
  };
}

function upstreamPolicyToJson(spec: UpstreamPolicySpec): JsonObject {
  return {
    source: spec.source,
    upstreams: spec.upstreams.map((upstream) => compact({ ...upstream })),
  };
}

function gatewayToJson(spec: GatewaySpec): JsonObject {
  return {
    gatewayClassName: spec.gatewayClassName,
    listeners: spec.listeners.map((listener) =>
      compact({
        name: listener.name,
        hostname: listener.hostname,
        port: listener.port,
        protocol: listener.protocol,
        tls: listener.tls && {
          mode: listener.tls.mode,
          certificateRefs: listener.tls.certificateRefs.map((ref) => ({ kind: 'Secret', name: ref.name, namespace: ref.namespace })),
        },
      }),
    ),
  };
}

function headerModifierToJson(modifier: HttpHeaderModifier): JsonObject {
  return compact({
    set: modifier.set?.map((header) => ({ ...header })),
    add: modifier.add?.map((header) => ({ ...header })),
    remove: modifier.remove && [...modifier.remove],
  });
}

function filterToJson(filter: HttpRouteFilter): JsonObject {
  switch (filter.type) {
    case 'RequestHeaderModifier':
      return { type: filter.type, requestHeaderModifier: headerModifierToJson(filter.requestHeaderModifier) };
    case 'ResponseHeaderModifier':
      return { type: filter.type, responseHeaderModifier: headerModifierToJson(filter.responseHeaderModifier) };
    case 'RequestRedirect': {
      const { path, ...rest } = filter.requestRedirect;
      return { type: filter.type, requestRedirect: compact({ ...rest, path: path && { ...path } }) };
    }
    case 'URLRewrite': {
      const { path, ...rest } = filter.urlRewrite;
      return { type: filter.type, urlRewrite: compact({ ...rest, path: path && { ...path } }) };
    }
  }
}

function httpRouteToJson(spec: HttpRouteSpec): JsonObject {
  return {
    parentRefs: spec.parentRefs.map((ref) => compact({ ...ref })),
    hostnames: [...spec.hostnames],
    rules: spec.rules.map((rule) =>
      compact({
        matches: rule.matches.map((match) =>
          compact({ path: { ...match.path }, headers: match.headers?.map((header) => ({ ...header })), method: match.method }),
        ),
        filters: rule.filters.map(filterToJson),
        backendRefs: rule.backendRefs.map((ref) => compact({ ...ref })),
        timeouts:
          rule.timeouts &&
          compact({ request: optionalDuration(rule.timeouts.requestMs), backendRequest: optionalDuration(rule.timeouts.backendRequestMs) }),
      }),
    ),
  };
}

function specToJson(document: PolicyDocument): JsonObject {
  switch (document.kind) {
    case 'Mesh':
      return meshToJson(document.spec);
    case 'TrafficPolicy':
      return trafficPolicyToJson(document.spec);
    case 'AuthorizationPolicy':
      return authorizationPolicyToJson(document.spec);
    case 'UpstreamPolicy':
      return upstreamPolicyToJson(document.spec);
    case 'Gateway':
      return gatewayToJson(document.spec);
    case 'HTTPRoute':
      return httpRouteToJson(document.spec);
  }
}

export function documentToJson(document: PolicyDocument): PolicyDocumentJson {
  return {
    apiVersion: apiVersionOf(document.kind),
    kind: document.kind,
    metadata: {
      name: document.metadata.name,
      namespace: document.metadata.namespace,
      ...(document.metadata.annotations !== undefined && { annotations: { ...document.metadata.annotations } }),
    },
    spec: specToJson(document),
  };
}

export function documentsToJson(documents: readonly PolicyDocument[]): PolicyDocumentJson[] {
  return documents.map(documentToJson);
}
