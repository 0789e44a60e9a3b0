/** `kind: AuthorizationPolicy`: who may call a target service, and which requests. */
import { z } from 'zod';
import type { AuthorizationPolicySpec, CallerMatch } from '../../core/policy.js';
import { expecting, nonEmptyList, oneOf, serviceName, WHEN_FIELDS_VALID } from './common.js';

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE'] as const;

const SPIFFE_ID = /^spiffe:\/\/[a-z0-9._-]+(\/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$/;
/** Exact paths, or prefixes ending in `*`: "/payments.Payments/Charge", "/payments.Payments/*". */
const PATH_PATTERN = /^\/[^*\s]*\*?$/;

const callerSchema = z
  .strictObject(
    {
      service: serviceName().optional(),
      namespace: serviceName().optional(),
      spiffeId: z
        .string(expecting('a SPIFFE ID such as "spiffe://mesh.local/ns/default/sa/orders"'))
        .regex(SPIFFE_ID, expecting('a SPIFFE ID such as "spiffe://mesh.local/ns/default/sa/orders"'))
        .optional(),
    },
    expecting('a mapping'),
  )
  .superRefine((caller, context) => {
    if (caller.spiffeId !== undefined && (caller.service !== undefined || caller.namespace !== undefined)) {
      context.addIssue({ code: 'custom', path: ['spiffeId'], message: 'spiffeId cannot be combined with service or namespace' });
    } else if (caller.spiffeId === undefined && caller.service === undefined && caller.namespace === undefined) {
      context.addIssue({ code: 'custom', message: 'expected one of service, namespace or spiffeId' });
    }
  }, WHEN_FIELDS_VALID)
  .transform((caller): CallerMatch => {
    if (caller.spiffeId !== undefined) return { spiffeId: caller.spiffeId };
    if (caller.service !== undefined) {
      return caller.namespace !== undefined ? { service: caller.service, namespace: caller.namespace } : { service: caller.service };
    }
    return { namespace: caller.namespace ?? '' };
  });

const requestMatchSchema = z.strictObject(
  {
    methods: nonEmptyList(oneOf(HTTP_METHODS), 'HTTP methods').optional(),
    paths: nonEmptyList(
      z
        .string(expecting('a path such as "/pkg.Service/Method" or a prefix ending in "*"'))
        .regex(PATH_PATTERN, expecting('a path starting with "/", with "*" allowed only at the end')),
      'paths',
    ).optional(),
  },
  expecting('a mapping'),
);

const ruleSchema = z.strictObject(
  {
    from: z.array(callerSchema, expecting('a list of callers')).optional(),
    to: z.array(requestMatchSchema, expecting('a list of request matches')).optional(),
  },
  expecting('a mapping'),
);

export const authorizationPolicySpecSchema = z
  .strictObject(
    {
      target: serviceName(),
      action: oneOf(['ALLOW', 'DENY']).default('ALLOW'),
      rules: z.array(ruleSchema, expecting('a list of rules')),
    },
    expecting('a mapping'),
  )
  .transform(
    (raw): AuthorizationPolicySpec => ({
      target: raw.target,
      action: raw.action,
      rules: raw.rules.map((rule) => ({
        ...(rule.from !== undefined && { from: rule.from }),
        ...(rule.to !== undefined && { to: rule.to }),
      })),
    }),
  );
