/**
 * `kind: Mesh`: mesh-wide settings. Every field is optional; absent ones come from DEFAULT_MESH,
 * except `trustDomain`, which stays absent (the CA's own) unless the document names one.
 */
import { z } from 'zod';
import { DEFAULT_MESH, MAX_CERTIFICATE_TTL_MS, type MeshDocumentSpec } from '../../core/policy.js';
import { boolean, duration, expecting, fraction, oneOf, WHEN_FIELDS_VALID } from './common.js';

/** SPIFFE trust domains: lowercase letters, digits, ".", "-" and "_". */
const TRUST_DOMAIN = /^[a-z0-9]([a-z0-9._-]{0,253}[a-z0-9])?$/;
const TRUST_DOMAIN_DESCRIPTION = 'a trust domain (lowercase letters, digits, ".", "-", "_"), e.g. "mesh.local"';

// Cross-field rules sit on the smallest object that holds both fields, so they are reported
// even when some other part of the document is wrong.
const certificatesSchema = z
  .strictObject(
    {
      // Bounded: the CA keeps revoked serials it did not issue in the CRL this long (docs/security.md).
      ttl: duration(1, { ms: MAX_CERTIFICATE_TTL_MS, text: '720h (30 days)' }).optional(),
      rotateAt: fraction(false).optional(),
      jitter: fraction(true).optional(),
    },
    expecting('a mapping'),
  )
  .superRefine((certificates, context) => {
    const rotateAt = certificates.rotateAt ?? DEFAULT_MESH.certificates.rotateAt;
    const jitter = certificates.jitter ?? DEFAULT_MESH.certificates.jitter;
    if (rotateAt + jitter >= 1) {
      context.addIssue({
        code: 'custom',
        path: [certificates.jitter !== undefined ? 'jitter' : 'rotateAt'],
        message: `rotateAt + jitter (${rotateAt} + ${jitter}) must stay below 1, or a certificate could expire before it is rotated`,
      });
    }
  }, WHEN_FIELDS_VALID);

const debounceSchema = z
  .strictObject(
    {
      quiet: duration(0).optional(),
      maxDelay: duration(1).optional(),
    },
    expecting('a mapping'),
  )
  .superRefine((debounce, context) => {
    const quietMs = debounce.quiet ?? DEFAULT_MESH.debounce.quietMs;
    const maxDelayMs = debounce.maxDelay ?? DEFAULT_MESH.debounce.maxDelayMs;
    if (maxDelayMs < quietMs) {
      context.addIssue({
        code: 'custom',
        path: [debounce.maxDelay !== undefined ? 'maxDelay' : 'quiet'],
        message: `maxDelay (${maxDelayMs}ms) must not be shorter than quiet (${quietMs}ms)`,
      });
    }
  }, WHEN_FIELDS_VALID);

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
    (raw): MeshDocumentSpec => ({
      ...(raw.trustDomain !== undefined && { trustDomain: raw.trustDomain }),
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
  );
