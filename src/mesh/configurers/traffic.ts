import type { LoadBalancer, TrafficPolicySpec } from '../../core/policy.js';
import type { Flavour, TranslationNote } from '../types.js';
import type { LocalityPlan } from '../locality.js';
import { anyOf, duration, ProtoType, uint32 } from './common.js';

/** TrafficPolicy → the cluster and route fields it controls, per flavour. */

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;

/** Retry conditions proxyless gRPC understands (gRFC A44). */
export const GRPC_RETRY_CONDITIONS: readonly string[] = ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'];

export interface Configured<T> {
  readonly value: T;
  readonly notes: readonly TranslationNote[];
}

/**
 * Ejection Envoy applies when locality failover is in effect and the policy sets none: without
 * ejection a zone whose apps are down (their sidecars still answering 503) keeps its priority
 * and its traffic (Istio demands outlier detection for failover for the same reason). All hosts
 * may be ejected, or the last 90 % of a failed zone would keep the zone's priority healthy.
 */
export const FAILOVER_OUTLIER_DETECTION = { consecutive5xx: 5, intervalMs: 5_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100 } as const;

/**
 * Envoy's retries when the TrafficPolicy sets none (Istio's default too): two more attempts for
 * failures where the request reached no application or the sidecar in front of it said 503 (the
 * application behind it is gone), each on another host and, under failover, the next priority.
 */
export const DEFAULT_ENVOY_RETRY = {
  attempts: 2,
  retryOn: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
  retriableStatusCodes: [503],
} as const;

/**
 * What bounds the default retries per cluster: retries in flight may be at most this share of the
 * requests in flight (plus a floor, so that a quiet caller can still retry), so a failing
 * destination costs at most 1.2 times its load instead of three times.
 */
export const DEFAULT_RETRY_BUDGET = { budgetPercent: 20, minRetryConcurrency: 3 } as const;

/** Whether an Envoy route to the service retries by Accord's default (the policy sets no retries). */
function retriesByDefault(policy: TrafficPolicySpec | undefined): boolean {
  return policy?.retries === undefined;
}

export function clusterTrafficFields(
  policy: TrafficPolicySpec | undefined,
  flavour: Flavour,
  clusterName: string,
  plan: LocalityPlan = { kind: 'none' },
  /** Whether requests reach the cluster through an HTTP route (and so its retries). */
  routed = false,
): Configured<Record<string, unknown>> {
  const notes: TranslationNote[] = [];
  const fields: Record<string, unknown> = {};
  if (flavour === 'envoy') fields.connect_timeout = duration(policy?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
  const lb = policy?.loadBalancer ?? { type: 'ROUND_ROBIN' };
  if (flavour === 'grpc' && lb.type === 'LEAST_REQUEST') {
    notes.push({ code: 'LOAD_BALANCER_UNSUPPORTED', message: `${clusterName}: proxyless gRPC has no LEAST_REQUEST; using ROUND_ROBIN` });
    fields.lb_policy = 'ROUND_ROBIN';
  } else {
    fields.lb_policy = lb.type;
  }
  if (fields.lb_policy === 'RING_HASH') fields.ring_hash_lb_config = { hash_function: 'XX_HASH' };

  const breakers = policy?.circuitBreakers ?? {};
  const thresholds: Record<string, unknown> = { priority: 'DEFAULT' };
  // grpc honours only max_requests.
  if (flavour === 'envoy' && breakers.maxConnections !== undefined) thresholds.max_connections = uint32(breakers.maxConnections);
  if (flavour === 'envoy' && breakers.maxPendingRequests !== undefined) thresholds.max_pending_requests = uint32(breakers.maxPendingRequests);
  if (breakers.maxRequests !== undefined) thresholds.max_requests = uint32(breakers.maxRequests);
  if (flavour === 'envoy' && breakers.maxRetries !== undefined) thresholds.max_retries = uint32(breakers.maxRetries);
  else if (flavour === 'envoy' && routed && retriesByDefault(policy)) {
    // A retry budget replaces Envoy's fixed limit of 3 retries in flight, which under load would
    // fail most of a dead zone's requests instead of retrying them.
    thresholds.retry_budget = {
      budget_percent: { value: DEFAULT_RETRY_BUDGET.budgetPercent },
      min_retry_concurrency: uint32(DEFAULT_RETRY_BUDGET.minRetryConcurrency),
    };
  }
  if (Object.keys(thresholds).length > 1) fields.circuit_breakers = { thresholds: [thresholds] };

  // Envoy ignores locality weights unless told to use them; gRPC always uses them.
  if (flavour === 'envoy' && plan.kind === 'distribute') fields.common_lb_config = { locality_weighted_lb_config: {} };

  const outlier =
    flavour === 'envoy' && plan.kind === 'failover'
      ? { maxEjectionPercent: FAILOVER_OUTLIER_DETECTION.maxEjectionPercent, ...(policy?.outlierDetection ?? FAILOVER_OUTLIER_DETECTION) }
      : policy?.outlierDetection;
  if (outlier) {
    const detection: Record<string, unknown> = {};
    if (outlier.consecutive5xx !== undefined) {
      if (flavour === 'envoy') detection.consecutive_5xx = uint32(outlier.consecutive5xx);
      else {
        notes.push({
          code: 'OUTLIER_DETECTION_APPROXIMATED',
          message: `${clusterName}: proxyless gRPC has no consecutive-error ejection; it ejects by success rate instead`,
        });
      }
    }
    if (outlier.intervalMs !== undefined) detection.interval = duration(outlier.intervalMs);
    if (outlier.baseEjectionTimeMs !== undefined) detection.base_ejection_time = duration(outlier.baseEjectionTimeMs);
    if (outlier.maxEjectionPercent !== undefined) detection.max_ejection_percent = uint32(outlier.maxEjectionPercent);
    fields.outlier_detection = detection;
  }
  return { value: fields, notes };
}

/**
 * Under locality failover, a retry goes to another host and, while untried priorities remain, to
 * the next priority: a request that met a failing zone is answered by the next one instead of
 * failing until outlier detection has ejected the whole zone.
 */
const FAILOVER_RETRY = {
  retry_priority: { name: 'envoy.retry_priorities.previous_priorities', typed_config: anyOf(ProtoType.previousPriorities, { update_frequency: 1 }) },
  retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: anyOf(ProtoType.previousHosts, {}) }],
  host_selection_retry_max_attempts: 3,
} as const;

/** The default retry policy: to other hosts always, to the next priority under failover. */
function defaultEnvoyRetryPolicy(plan: LocalityPlan): Record<string, unknown> {
  const { retry_priority, ...otherHosts } = FAILOVER_RETRY;
  return {
    retry_on: DEFAULT_ENVOY_RETRY.retryOn.join(','),
    num_retries: uint32(DEFAULT_ENVOY_RETRY.attempts),
    retriable_status_codes: [...DEFAULT_ENVOY_RETRY.retriableStatusCodes],
    ...(plan.kind === 'failover' ? { retry_priority } : {}),
    ...otherHosts,
  };
}

/** Route action fields: timeout, retries and (for RING_HASH) what to hash. */
export function routeTrafficFields(
  policy: TrafficPolicySpec | undefined,
  flavour: Flavour,
  routeName: string,
  plan: LocalityPlan = { kind: 'none' },
): Configured<Record<string, unknown>> {
  const notes: TranslationNote[] = [];
  const fields: Record<string, unknown> = {};
  if (flavour === 'envoy') {
    // No policy: no route timeout (Envoy's 15 s default would cut long-lived gRPC streams).
    fields.timeout = duration(policy?.requestTimeoutMs ?? 0);
  } else if (policy?.requestTimeoutMs !== undefined) {
    // grpc ignores `timeout`; it reads max_stream_duration.
    fields.max_stream_duration = { max_stream_duration: duration(policy.requestTimeoutMs) };
  }

  const retries = policy?.retries;
  if (flavour === 'envoy' && retriesByDefault(policy)) fields.retry_policy = defaultEnvoyRetryPolicy(plan);
  if (retries && retries.attempts > 0) {
    let conditions = [...retries.retryOn];
    if (flavour === 'grpc') {
      const unsupported = conditions.filter((c) => !GRPC_RETRY_CONDITIONS.includes(c));
      if (unsupported.length > 0) {
        notes.push({ code: 'RETRY_CONDITION_UNSUPPORTED', message: `${routeName}: proxyless gRPC ignores retry conditions ${unsupported.join(', ')}` });
      }
      conditions = conditions.filter((c) => GRPC_RETRY_CONDITIONS.includes(c));
    }
    if (conditions.length > 0) {
      fields.retry_policy = {
        retry_on: conditions.join(','),
        num_retries: uint32(retries.attempts),
        ...(flavour === 'envoy' && retries.perTryTimeoutMs !== undefined ? { per_try_timeout: duration(retries.perTryTimeoutMs) } : {}),
        ...(flavour === 'envoy' && plan.kind === 'failover' ? FAILOVER_RETRY : {}),
      };
    }
  }

  const hashPolicy = hashPolicyFor(policy?.loadBalancer, flavour);
  if (hashPolicy.length > 0) fields.hash_policy = hashPolicy;
  return { value: fields, notes };
}

function hashPolicyFor(lb: LoadBalancer | undefined, flavour: Flavour): Record<string, unknown>[] {
  if (lb?.type !== 'RING_HASH') return [];
  const policies: Record<string, unknown>[] = [];
  if (lb.hashKey.header !== undefined) policies.push({ header: { header_name: lb.hashKey.header } });
  if (lb.hashKey.sourceIp) {
    // A proxyless client has no downstream connection; its channel is the closest equivalent.
    policies.push(flavour === 'envoy' ? { connection_properties: { source_ip: true } } : { filter_state: { key: 'io.grpc.channel_id' } });
  }
  return policies;
}
