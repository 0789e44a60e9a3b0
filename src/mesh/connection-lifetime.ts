import type { MeshSpec } from '../core/policy.js';

const MINIMUM_MS = 1_000;

/**
 * How long an inbound connection may live. Envoy never re-checks a certificate after the
 * handshake, so a connection outlives a rotated (or revoked) certificate unless capped. A leaf is
 * replaced at `rotateAt` (± `jitter`) of its lifetime; a connection made just before that, capped
 * at the remaining lifetime, ends before its certificate expires.
 */
export function maxConnectionDurationMs(mesh: MeshSpec): number {
  const { ttlMs, rotateAt, jitter } = mesh.certificates;
  const remaining = Math.floor((ttlMs * (1 - rotateAt - jitter)) / 1000) * 1000;
  return Math.max(MINIMUM_MS, remaining);
}
