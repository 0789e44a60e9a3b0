import type { MeshSpec } from '../core/policy.js';

const MINIMUM_MS = 1_000;

/** Envoy's default HTTP idle timeout, stated on the inbound side so that the callers' shorter one is visibly shorter. */
export const INBOUND_IDLE_TIMEOUT_MS = 3_600_000;

/**
 * The share of the destination's limits a caller keeps a connection for. The caller always ends a
 * mesh connection first: a pooled HTTP/1.1 connection the destination closes (its lifetime cap or
 * idle timeout reached) can meet a request the caller is writing into it at that moment, and the
 * request fails with a 503 ("connection termination"). A caller that retires the connection itself
 * stops giving it requests first and closes it when idle, which races with nothing.
 */
const CALLER_SHARE = 0.75;

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

/** How long a caller's Envoy keeps a connection to a mesh destination, in all and idle. */
export interface CallerConnectionLimits {
  readonly maxDurationMs: number;
  readonly idleTimeoutMs: number;
}

export function callerConnectionLimits(mesh: MeshSpec): CallerConnectionLimits {
  return {
    maxDurationMs: Math.floor(maxConnectionDurationMs(mesh) * CALLER_SHARE),
    idleTimeoutMs: Math.floor(INBOUND_IDLE_TIMEOUT_MS * CALLER_SHARE),
  };
}
