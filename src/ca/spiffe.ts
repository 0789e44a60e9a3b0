import { IssuanceError } from './errors.js';

const SEGMENT = /^[A-Za-z0-9._-]+$/;
const TRUST_DOMAIN = /^[a-z0-9._-]+$/;

/** Throws unless `trustDomain` is a valid SPIFFE trust domain name (lower-case, no scheme or port). */
export function assertTrustDomain(trustDomain: string, field = 'trustDomain'): void {
  if (!TRUST_DOMAIN.test(trustDomain) || trustDomain.length > 255) {
    throw new IssuanceError('INVALID_SPIFFE_ID', field, `"${trustDomain}" is not a valid SPIFFE trust domain`);
  }
}

/**
 * Throws unless `id` is `spiffe://<trustDomain>/<path>` with a non-empty path of plain segments
 * (SPIFFE-ID §2). Accord issues `spiffe://<td>/ns/<ns>/sa/<sa>`; other paths in the domain are allowed.
 */
export function assertSpiffeIdInDomain(id: string, trustDomain: string, field = 'spiffeId'): void {
  const prefix = `spiffe://${trustDomain}/`;
  if (!id.startsWith(prefix)) {
    throw new IssuanceError('INVALID_SPIFFE_ID', field, `"${id}" is not in trust domain "${trustDomain}"`);
  }
  const segments = id.slice(prefix.length).split('/');
  if (id.length > 2048 || segments.some((segment) => !SEGMENT.test(segment) || segment === '.' || segment === '..')) {
    throw new IssuanceError('INVALID_SPIFFE_ID', field, `"${id}" has an invalid path`);
  }
}
