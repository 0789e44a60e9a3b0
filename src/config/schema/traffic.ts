/** `kind: TrafficPolicy`: how callers reach one destination service. */
import { z } from 'zod';
import { checkLocalityPattern } from '../../core/locality.js';
import type { LocalityLbSetting, LoadBalancer, RetryPolicy, TrafficPolicySpec } from '../../core/policy.js';
import {
  boolean,
  duration,
  expecting,
  intBetween,
  describeValue,
  labels,
  nonEmptyList,
  nonNegativeInt,
  objectName,
  oneOf,
  positiveInt,
  reportDuplicates,
  serviceName,
  WHEN_FIELDS_VALID,
} from './common.js';

/**
 * Envoy `retry_on` conditions and gRPC status names (the gRPC flavour understands only the
 * latter). Conditions that need further settings the policy has no field for
 * (`retriable-status-codes`, `retriable-headers`) are left out.
 */
export const RETRY_ON = [
  '5xx',
  'gateway-error',
  'reset',
  'reset-before-request',
  'connect-failure',
  'envoy-ratelimited',
  'retriable-4xx',
  'refused-stream',
  'http3-post-connect-failure',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
] as const;

/** Retried when `retries.retryOn` is absent: failures where the request cannot have been processed, plus gRPC `unavailable`. */
export const DEFAULT_RETRY_ON: readonly string[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled'];

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/;

const retriesSchema = z
  .strictObject(
    {
      // 0 turns off the retries Envoy callers make by default (configurers/traffic.ts).
      attempts: nonNegativeInt(),
      perTryTimeout: duration(1).optional(),
      retryOn: nonEmptyList(oneOf(RETRY_ON), 'retry conditions').optional(),
    },
    expecting('a mapping'),
  )
  .transform(
    (raw): RetryPolicy => ({
      attempts: raw.attempts,
      ...(raw.perTryTimeout !== undefined && { perTryTimeoutMs: raw.perTryTimeout }),
      retryOn: raw.retryOn ?? DEFAULT_RETRY_ON,
    }),
  );

const hashKeySchema = z
  .strictObject(
    {
      header: z
        .string(expecting('an HTTP header name'))
        .regex(HEADER_NAME, expecting('an HTTP header name'))
        .transform((header) => header.toLowerCase())
        .optional(),
      sourceIp: z.literal(true, expecting('true (hash on the caller\'s address)')).optional(),
    },
    expecting('a mapping'),
  )
  .superRefine((key, context) => {
    if ((key.header === undefined) === (key.sourceIp === undefined)) {
      context.addIssue({ code: 'custom', message: 'set exactly one of header or sourceIp: true' });
    }
  }, WHEN_FIELDS_VALID);

const loadBalancerSchema = z
  .strictObject(
    {
      type: oneOf(['ROUND_ROBIN', 'LEAST_REQUEST', 'RING_HASH']),
      hashKey: hashKeySchema.optional(),
    },
    expecting('a mapping'),
  )
  .superRefine((lb, context) => {
    if (lb.type === 'RING_HASH' && lb.hashKey === undefined) {
      context.addIssue({ code: 'custom', path: ['hashKey'], message: 'RING_HASH needs a hashKey (header or sourceIp: true)' });
    }
    if (lb.type !== 'RING_HASH' && lb.hashKey !== undefined) {
      context.addIssue({ code: 'custom', path: ['hashKey'], message: `hashKey applies only to RING_HASH, not ${lb.type}` });
    }
  }, WHEN_FIELDS_VALID)
  .transform((lb): LoadBalancer => {
    if (lb.type !== 'RING_HASH') return { type: lb.type };
    const key = lb.hashKey ?? {};
    return { type: 'RING_HASH', hashKey: key.header !== undefined ? { header: key.header } : { sourceIp: true } };
  });

const circuitBreakersSchema = z.strictObject(
  {
    maxConnections: positiveInt().optional(),
    maxPendingRequests: positiveInt().optional(),
    maxRequests: positiveInt().optional(),
    maxRetries: nonNegativeInt().optional(),
  },
  expecting('a mapping'),
);

const outlierDetectionSchema = z
  .strictObject(
    {
      consecutive5xx: positiveInt().optional(),
      interval: duration(1).optional(),
      baseEjectionTime: duration(1).optional(),
      maxEjectionPercent: intBetween(0, 100).optional(),
    },
    expecting('a mapping'),
  )
  .transform((raw) => ({
    ...(raw.consecutive5xx !== undefined && { consecutive5xx: raw.consecutive5xx }),
    ...(raw.interval !== undefined && { intervalMs: raw.interval }),
    ...(raw.baseEjectionTime !== undefined && { baseEjectionTimeMs: raw.baseEjectionTime }),
    ...(raw.maxEjectionPercent !== undefined && { maxEjectionPercent: raw.maxEjectionPercent }),
  }));

const splitSchema = nonEmptyList(
  z.strictObject(
    {
      name: objectName(),
      labels: labels(),
      weight: intBetween(0, 100),
    },
    expecting('a mapping'),
  ),
  'subsets',
)
  .superRefine(reportDuplicates('split', (subset) => subset.name, 'name', (subset) => `duplicate subset name ${describeValue(subset.name)}`))
  .superRefine((subsets, context) => {
    const total = subsets.reduce((sum, subset) => sum + subset.weight, 0);
    if (total !== 100) context.addIssue({ code: 'custom', message: `split weights must sum to 100, got ${total}` });
  }, WHEN_FIELDS_VALID);

const LOCALITY_PATTERN = 'a locality pattern ("*", "region", "region/*", "region/zone", "region/zone/*" or "region/zone/subZone")';

function localityPattern(): z.ZodString {
  return z.string(expecting(LOCALITY_PATTERN)).superRefine((pattern, context) => {
    const problem = checkLocalityPattern(pattern);
    if (problem !== undefined) context.addIssue({ code: 'custom', message: `locality pattern ${describeValue(pattern)} ${problem}` });
  });
}

const regionName = (): z.ZodString =>
  z.string(expecting('a region name')).superRefine((region, context) => {
    if (region.includes('/') || region === '*' || checkLocalityPattern(region) !== undefined) {
      context.addIssue({ code: 'custom', message: `expected a region name, got ${describeValue(region)}` });
    }
  });

const distributeSchema = nonEmptyList(
  z
    .strictObject(
      {
        from: localityPattern(),
        to: z
          .record(z.string(), intBetween(0, 100), expecting('a mapping of locality patterns to percentages'))
          .superRefine((to, context) => {
            for (const pattern of Object.keys(to)) {
              const problem = checkLocalityPattern(pattern);
              if (problem !== undefined) context.addIssue({ code: 'custom', path: [pattern], message: `locality pattern ${describeValue(pattern)} ${problem}` });
            }
          }),
      },
      expecting('a mapping'),
    )
    .superRefine((rule, context) => {
      const total = Object.values(rule.to).reduce((sum, weight) => sum + weight, 0);
      if (total !== 100) context.addIssue({ code: 'custom', path: ['to'], message: `distribute percentages must sum to 100, got ${total}` });
    }, WHEN_FIELDS_VALID),
  'distribution rules',
).superRefine(reportDuplicates('distribute', (rule) => rule.from, 'from', (rule) => `duplicate from ${describeValue(rule.from)}`));

const failoverSchema = nonEmptyList(
  z
    .strictObject({ from: regionName(), to: regionName() }, expecting('a mapping'))
    .superRefine((rule, context) => {
      if (rule.from === rule.to) context.addIssue({ code: 'custom', path: ['to'], message: `a region cannot fail over to itself (${describeValue(rule.to)})` });
    }, WHEN_FIELDS_VALID),
  'failover rules',
).superRefine(reportDuplicates('failover', (rule) => rule.from, 'from', (rule) => `duplicate from ${describeValue(rule.from)}`));

const localitySchema = z
  .strictObject(
    {
      enabled: boolean().optional(),
      distribute: distributeSchema.optional(),
      failover: failoverSchema.optional(),
    },
    expecting('a mapping'),
  )
  .superRefine((raw, context) => {
    if (raw.enabled === false && (raw.distribute !== undefined || raw.failover !== undefined)) {
      const field = raw.distribute !== undefined ? 'distribute' : 'failover';
      context.addIssue({ code: 'custom', path: [field], message: `${field} has no effect with enabled: false` });
    }
    if (raw.distribute !== undefined && raw.failover !== undefined) {
      context.addIssue({ code: 'custom', path: ['failover'], message: 'set distribute or failover, not both' });
    }
  }, WHEN_FIELDS_VALID)
  .transform(
    (raw): LocalityLbSetting => ({
      enabled: raw.enabled ?? true,
      ...(raw.distribute !== undefined && { distribute: raw.distribute }),
      ...(raw.failover !== undefined && { failover: raw.failover }),
    }),
  );

export const trafficPolicySpecSchema = z
  .strictObject(
    {
      target: serviceName(),
      connectTimeout: duration(1).optional(),
      requestTimeout: duration(1).optional(),
      retries: retriesSchema.optional(),
      loadBalancer: loadBalancerSchema.optional(),
      circuitBreakers: circuitBreakersSchema.optional(),
      outlierDetection: outlierDetectionSchema.optional(),
      split: splitSchema.optional(),
      locality: localitySchema.optional(),
    },
    expecting('a mapping'),
  )
  .transform(
    (raw): TrafficPolicySpec => ({
      target: raw.target,
      ...(raw.connectTimeout !== undefined && { connectTimeoutMs: raw.connectTimeout }),
      ...(raw.requestTimeout !== undefined && { requestTimeoutMs: raw.requestTimeout }),
      ...(raw.retries !== undefined && { retries: raw.retries }),
      ...(raw.loadBalancer !== undefined && { loadBalancer: raw.loadBalancer }),
      ...(raw.circuitBreakers !== undefined && { circuitBreakers: raw.circuitBreakers }),
      ...(raw.outlierDetection !== undefined && { outlierDetection: raw.outlierDetection }),
      ...(raw.split !== undefined && { split: raw.split }),
      ...(raw.locality !== undefined && { locality: raw.locality }),
    }),
  );
