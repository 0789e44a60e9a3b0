import type { Protocol } from '../../core/workload.js';
import { INBOUND_IDLE_TIMEOUT_MS, type CallerConnectionLimits } from '../connection-lifetime.js';
import { FilterName, HTTP_PROTOCOL_OPTIONS_KEY } from '../names.js';
import { ProtoType, anyOf, duration } from './common.js';

/** HTTP connection manager pieces shared by the inbound and outbound listeners of both flavours. */

export function routerFilter(): Record<string, unknown> {
  return { name: FilterName.router, typed_config: anyOf(ProtoType.router, {}) };
}

export function isHttpProtocol(protocol: Protocol): boolean {
  return protocol !== 'tcp';
}

export function speaksHttp2(protocol: Protocol): boolean {
  return protocol === 'http2' || protocol === 'grpc';
}

/** ALPN a client offers to a destination (TCP: none). */
export function upstreamAlpn(protocol: Protocol): string[] {
  if (protocol === 'tcp') return [];
  return speaksHttp2(protocol) ? ['h2'] : ['http/1.1'];
}

/** ALPN the inbound side offers: HTTP services accept either version. */
export function downstreamAlpn(protocol: Protocol): string[] {
  return protocol === 'tcp' ? [] : ['h2', 'http/1.1'];
}

/** `typed_extension_protocol_options` making a cluster speak HTTP/2 (prior knowledge). */
export function http2ProtocolOptions(): Record<string, unknown> {
  return {
    [HTTP_PROTOCOL_OPTIONS_KEY]: anyOf(ProtoType.httpProtocolOptions, { explicit_http_config: { http2_protocol_options: {} } }),
  };
}

/**
 * `typed_extension_protocol_options` of a caller's cluster to a mesh HTTP destination: its HTTP
 * version and how long its pooled connections live (shorter than the destination allows).
 */
export function meshHttpProtocolOptions(protocol: Protocol, limits: CallerConnectionLimits): Record<string, unknown> {
  return {
    [HTTP_PROTOCOL_OPTIONS_KEY]: anyOf(ProtoType.httpProtocolOptions, {
      common_http_protocol_options: { idle_timeout: duration(limits.idleTimeoutMs), max_connection_duration: duration(limits.maxDurationMs) },
      explicit_http_config: speaksHttp2(protocol) ? { http2_protocol_options: {} } : { http_protocol_options: {} },
    }),
  };
}

export function httpConnectionManagerFilter(body: Record<string, unknown>): Record<string, unknown> {
  return { name: FilterName.httpConnectionManager, typed_config: anyOf(ProtoType.hcm, body) };
}

/** Caps connection lifetime so connections made with an old certificate end eventually. */
export function maxConnectionDurationOptions(maxConnectionDurationMs: number): Record<string, unknown> {
  return { idle_timeout: duration(INBOUND_IDLE_TIMEOUT_MS), max_connection_duration: duration(maxConnectionDurationMs) };
}
