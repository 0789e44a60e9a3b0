/** `kind: Mesh`: mesh-wide settings. Every field is optional; absent ones come from DEFAULT_MESH. */
import { z } from 'zod';
import { DEFAULT_MESH, type MeshSpec } from '../../core/policy.js';
import { boolean, duration, expecting, fraction, oneOf } from './common.js';

/** SPIFFE trust domains: lowercase letters, digits, ".", "-" and "_". */
const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$/;
const TRUST_DOMAIN_DESCRIPTION = 'a trust domain (lowercase letters, digits, ".", "-", "_"), e.g. "mesh.local"';

const certificatesSchema = z.strictObject(
  {
    ttl: duration(1).optional(),
    rotateAt: fraction(false).optional(),
    jitter: fraction(true).optional(),
  },
  expecting('a mapping'),
);

const debounceSchema = z.strictObject(
  {
    quiet: duration(0).optional(),
    maxDelay: duration(1).optional(),
  },
  expecting('a mapping'),
);

export const meshSpecSchema = z
  .strictObject(
    {
      trustDomain: z
        .string(expecting(TRUST_DOMAIN_DESCRIPTION))
        .regex(TRUST_DOMAIN, expecting(TRUST_DOMAIN_DESCRIPTION))
        .optional(),
      mtls: oneOf(['STRICT', 'PERMISSIVE']).optional(),
      certificates: certificatesSchema.optional(),
      allowAnonymousConfig: boolean().optional(),
      debounce: debounceSchema.optional(),
    },
    expecting('a mapping'),
  )
  .transform(
    (raw): MeshSpec => ({
      trustDomain: raw.trustDomain ?? DEFAULT_MESH.trustDomain,
      mtls: raw.mtls ?? DEFAULT_MESH.mtls,
      certificates: {
        ttlMs: raw.certificates?.ttl ?? DEFAULT_MESH.certificates.ttlMs,
        rotateAt: raw.certificates?.rotateAt ?? DEFAULT_MESH.certificates.rotateAt,
        jitter: raw.certificates?.jitter ?? DEFAULT_MESH.certificates.jitter,
      },
      allowAnonymousConfig: raw.allowAnonymousConfig ?? DEFAULT_MESH.allowAnonymousConfig,
      debounce: {
        quietMs: raw.debounce?.quiet ?? DEFAULT_MESH.debounce.quietMs,
        maxDelayMs: raw.debounce?.maxDelay ?? DEFAULT_MESH.debounce.maxDelayMs,
      },
    }),
  )
  .superRefine((mesh, context) => {
    if (mesh.debounce.maxDelayMs < mesh.debounce.quietMs) {
      context.addIssue({
        code: 'custom',
        path: ['debounce', 'maxDelay'],
        message: `maxDelay (${mesh.debounce.maxDelayMs}ms) must not be shorter than quiet (${mesh.debounce.quietMs}ms)`,
      });
    }
    if (mesh.certificates.rotateAt + mesh.certificates.jitter >= 1) {
      context.addIssue({
        code: 'custom',
        path: ['certificates', 'jitter'],
        message: `rotateAt + jitter (${mesh.certificates.rotateAt} + ${mesh.certificates.jitter}) must stay below 1, or a certificate could expire before it is rotated`,
      });
    }
  });
