/**
 * Operator policy documents after validation (the shapes docs/configuration.md documents).
 * `src/config` parses YAML into these; `src/mesh` reads them. Durations are milliseconds.
 */

export const API_VERSION = 'accord.dev/v1';
/** The Kubernetes Gateway API group/version whose `Gateway` and `HTTPRoute` Accord accepts (a subset; docs/configuration.md). */
export const GATEWAY_API_VERSION = 'gateway.networking.k8s.io/v1';

export type MtlsMode = 'STRICT' | 'PERMISSIVE';

export interface Metadata {
  readonly name: string;
  readonly namespace: string;
  /** Free-form notes; keys under `accord.dev/` change how Accord validates the document. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The annotation that marks references to services nobody registered or named as intended. */
export const ALLOW_UNKNOWN_TARGETS_ANNOTATION = 'accord.dev/allow-unknown-targets';

export interface MeshSpec {
  readonly trustDomain: string;
  readonly mtls: MtlsMode;
  readonly certificates: {
    readonly ttlMs: number;
    /** Fraction of the lifetime after which a leaf is rotated (0 < rotateAt < 1). */
    readonly rotateAt: number;
    readonly jitter: number;
  };
  /** Allow streams without a workload token to receive config (never secrets). */
  readonly allowAnonymousConfig: boolean;
  readonly debounce: { readonly quietMs: number; readonly maxDelayMs: number };
}

export type LoadBalancer =
  | { readonly type: 'ROUND_ROBIN' }
  | { readonly type: 'LEAST_REQUEST' }
  | { readonly type: 'RING_HASH'; readonly hashKey: { readonly header?: string; readonly sourceIp?: boolean } };

export interface RetryPolicy {
  readonly attempts: number;
  readonly perTryTimeoutMs?: number;
  /** Envoy / gRPC retry-on conditions, e.g. `5xx`, `unavailable`. */
  readonly retryOn: readonly string[];
}

export interface CircuitBreakers {
  readonly maxConnections?: number;
  readonly maxPendingRequests?: number;
  readonly maxRequests?: number;
  readonly maxRetries?: number;
}

export interface OutlierDetection {
  readonly consecutive5xx?: number;
  readonly intervalMs?: number;
  readonly baseEjectionTimeMs?: number;
  readonly maxEjectionPercent?: number;
}

export interface TrafficSplit {
  /** Subset name, used in cluster names. */
  readonly name: string;
  /** Label selector: workloads carrying all these labels belong to the subset. */
  readonly labels: Readonly<Record<string, string>>;
  readonly weight: number;
}

export interface TrafficPolicySpec {
  /** Destination service, in the document's namespace. */
  readonly target: string;
  readonly connectTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly retries?: RetryPolicy;
  readonly loadBalancer?: LoadBalancer;
  readonly circuitBreakers?: CircuitBreakers;
  readonly outlierDetection?: OutlierDetection;
  readonly split?: readonly TrafficSplit[];
  readonly locality?: LocalityLbSetting;
}

/**
 * How callers spread over the destination's localities (docs/configuration.md). Patterns are
 * `*`, `region`, `region/*`, `region/zone`, `region/zone/*` or `region/zone/subZone`.
 */
export interface LocalityLbSetting {
  /** false: every endpoint at one priority, whatever the caller's locality. */
  readonly enabled: boolean;
  /** Weighted localities: the first rule whose `from` matches the caller decides (most specific first). */
  readonly distribute?: readonly LocalityDistribution[];
  /** Explicit failover between regions, followed as a chain from the caller's region. */
  readonly failover?: readonly LocalityFailover[];
}

export interface LocalityDistribution {
  readonly from: string;
  /** Pattern → percentage; the percentages of one rule sum to 100. */
  readonly to: Readonly<Record<string, number>>;
}

export interface LocalityFailover {
  readonly from: string;
  readonly to: string;
}

export type CallerMatch =
  | { readonly service: string; readonly namespace?: string }
  | { readonly namespace: string }
  | { readonly spiffeId: string };

export interface RequestMatch {
  readonly methods?: readonly string[];
  /** Exact paths, or prefixes ending in `*`. */
  readonly paths?: readonly string[];
}

export interface AuthorizationRule {
  /** Empty or absent: any authenticated caller. */
  readonly from?: readonly CallerMatch[];
  /** Empty or absent: any request. HTTP only. */
  readonly to?: readonly RequestMatch[];
}

export interface AuthorizationPolicySpec {
  readonly target: string;
  readonly action: 'ALLOW' | 'DENY';
  readonly rules: readonly AuthorizationRule[];
}

/** Extra upstreams added by policy for every workload of `source`. */
export interface UpstreamPolicySpec {
  readonly source: string;
  readonly upstreams: readonly { readonly service: string; readonly namespace?: string; readonly localPort: number }[];
}

/**
 * A Mesh document's spec: like MeshSpec, but `trustDomain` is absent unless the operator asked for
 * one (the CA's trust domain is fixed at start; a document that names another is refused).
 */
export type MeshDocumentSpec = Omit<MeshSpec, 'trustDomain'> & { readonly trustDomain?: string };

/** A file-backed TLS certificate: `<certificate directory>/<namespace>/<name>/tls.crt` and `tls.key` on the gateway's host. */
export interface CertificateRef {
  readonly name: string;
  readonly namespace: string;
}

export interface GatewayListener {
  readonly name: string;
  /** Exact host, or `*.example.com` for any one-or-more-label subdomain; absent = any host. */
  readonly hostname?: string;
  readonly port: number;
  readonly protocol: 'HTTP' | 'HTTPS';
  /** HTTPS only: the listener terminates TLS with these certificates (SNI picks among listeners' hostnames). */
  readonly tls?: { readonly mode: 'Terminate'; readonly certificateRefs: readonly CertificateRef[] };
}

export interface GatewaySpec {
  readonly gatewayClassName: string;
  readonly listeners: readonly GatewayListener[];
}

export interface ParentRef {
  readonly name: string;
  readonly namespace: string;
  /** A listener's name; absent = every listener of the Gateway. */
  readonly sectionName?: string;
  readonly port?: number;
}

export interface HttpPathMatch {
  readonly type: 'Exact' | 'PathPrefix' | 'RegularExpression';
  readonly value: string;
}

export interface HttpHeaderMatch {
  readonly type: 'Exact' | 'RegularExpression';
  readonly name: string;
  readonly value: string;
}

export interface HttpRouteMatch {
  readonly path: HttpPathMatch;
  readonly headers?: readonly HttpHeaderMatch[];
  readonly method?: string;
}

export interface HttpHeader {
  readonly name: string;
  readonly value: string;
}

export interface HttpHeaderModifier {
  readonly set?: readonly HttpHeader[];
  readonly add?: readonly HttpHeader[];
  readonly remove?: readonly string[];
}

export type HttpPathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly replaceFullPath: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly replacePrefixMatch: string };

export interface HttpRequestRedirect {
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly port?: number;
  readonly path?: HttpPathModifier;
  readonly statusCode: 301 | 302;
}

export interface HttpUrlRewrite {
  readonly hostname?: string;
  readonly path?: HttpPathModifier;
}

export type HttpRouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HttpHeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HttpHeaderModifier }
  | { readonly type: 'RequestRedirect'; readonly requestRedirect: HttpRequestRedirect }
  | { readonly type: 'URLRewrite'; readonly urlRewrite: HttpUrlRewrite };

/** A mesh service the route sends to; `port` is accepted for Gateway API compatibility (services have one port). */
export interface BackendRef {
  readonly name: string;
  readonly namespace: string;
  readonly port?: number;
  readonly weight: number;
}

export interface HttpRouteRule {
  readonly matches: readonly HttpRouteMatch[];
  readonly filters: readonly HttpRouteFilter[];
  readonly backendRefs: readonly BackendRef[];
  /** Milliseconds; 0 = no timeout. */
  readonly timeouts?: { readonly requestMs?: number; readonly backendRequestMs?: number };
}

export interface HttpRouteSpec {
  readonly parentRefs: readonly ParentRef[];
  readonly hostnames: readonly string[];
  readonly rules: readonly HttpRouteRule[];
}

export type PolicyDocument =
  | { readonly kind: 'Mesh'; readonly metadata: Metadata; readonly spec: MeshDocumentSpec }
  | { readonly kind: 'TrafficPolicy'; readonly metadata: Metadata; readonly spec: TrafficPolicySpec }
  | { readonly kind: 'AuthorizationPolicy'; readonly metadata: Metadata; readonly spec: AuthorizationPolicySpec }
  | { readonly kind: 'UpstreamPolicy'; readonly metadata: Metadata; readonly spec: UpstreamPolicySpec }
  | { readonly kind: 'Gateway'; readonly metadata: Metadata; readonly spec: GatewaySpec }
  | { readonly kind: 'HTTPRoute'; readonly metadata: Metadata; readonly spec: HttpRouteSpec };

/** A validated, complete set of policies: what is in force. */
export interface PolicySet {
  readonly mesh: MeshSpec;
  readonly trafficPolicies: readonly (PolicyDocument & { kind: 'TrafficPolicy' })[];
  readonly authorizationPolicies: readonly (PolicyDocument & { kind: 'AuthorizationPolicy' })[];
  readonly upstreamPolicies: readonly (PolicyDocument & { kind: 'UpstreamPolicy' })[];
  readonly gateways: readonly (PolicyDocument & { kind: 'Gateway' })[];
  readonly httpRoutes: readonly (PolicyDocument & { kind: 'HTTPRoute' })[];
}

/**
 * The longest leaf lifetime a Mesh policy may ask for (`certificates.ttl`). The CA refuses longer
 * leaves, and keeps a revoked serial it did not issue in the CRL for this long (docs/security.md).
 */
export const MAX_CERTIFICATE_TTL_MS = 30 * 24 * 3600_000;

export const DEFAULT_MESH: MeshSpec = {
  trustDomain: 'mesh.local',
  mtls: 'STRICT',
  certificates: { ttlMs: 24 * 3600_000, rotateAt: 0.5, jitter: 0.1 },
  allowAnonymousConfig: false,
  debounce: { quietMs: 25, maxDelayMs: 250 },
};
