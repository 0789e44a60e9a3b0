import crypto from 'node:crypto';
import type { CertificateAuthority } from './authority.js';
import { shouldPrepareNextIntermediate } from './lifecycle.js';
import { withNextIntermediate, type CaMaterial } from './material.js';

export type RenewalOutcome =
  /** The current intermediate has enough life left. */
  | 'not-due'
  /** A new intermediate was signed, persisted and is now issuing. */
  | 'renewed'
  /** Due, but the root key is not held here (operator-supplied intermediate): renew it out of band. */
  | 'no-root-key'
  /** Another replica persisted first: reload the shared material and `useMaterial` it. */
  | 'lost-race';

/**
 * Replaces the intermediate under the same root once `shouldPrepareNextIntermediate` says so. No
 * trust change is needed: the root stays, and leaves from the old intermediate stay valid until
 * they expire. `persist` is the compare-and-set into shared storage (absent for a single replica).
 */
export async function renewIntermediateIfDue(options: {
  readonly ca: CertificateAuthority;
  readonly now: number;
  readonly marginMs?: number;
  readonly persist?: (next: CaMaterial) => Promise<boolean>;
}): Promise<RenewalOutcome> {
  const material = options.ca.currentMaterial;
  if (material.issuer.certPem === material.root.certPem) return 'not-due';
  const issuer = new crypto.X509Certificate(material.issuer.certPem);
  const validity = { notBefore: Date.parse(issuer.validFrom), notAfter: Date.parse(issuer.validTo) };
  if (!shouldPrepareNextIntermediate(validity, options.now, { maxLeafTtlMs: options.ca.leafTtlMs, marginMs: options.marginMs })) {
    return 'not-due';
  }
  if (!material.root.keyPem) return 'no-root-key';
  const next = await withNextIntermediate(material, { trustDomain: options.ca.trustDomain, now: options.now });
  if (options.persist && !(await options.persist(next))) return 'lost-race';
  options.ca.useMaterial(next);
  return 'renewed';
}
