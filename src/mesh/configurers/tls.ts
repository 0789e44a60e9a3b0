import { CERTIFICATE_PROVIDER_INSTANCE, FilterName } from '../names.js';
import { ProtoType, anyOf } from './common.js';
import { SDS_CERTIFICATE, SDS_ROOT_CA } from './sds.js';

/**
 * TLS contexts. Envoy gets certificates over SDS (`default`, `ROOTCA`), with SAN checks kept in
 * the static half of a combined validation context so that only the roots travel over SDS.
 * Proxyless gRPC reads files through the bootstrap's certificate provider instance instead.
 */

export function transportSocket(typedConfig: Record<string, unknown>): Record<string, unknown> {
  return { name: FilterName.tlsTransportSocket, typed_config: typedConfig };
}

function trustDomainPrefix(trustDomain: string): string {
  return `spiffe://${trustDomain}/`;
}

function envoyCommonTls(sanMatchers: readonly Record<string, unknown>[], alpn: readonly string[]): Record<string, unknown> {
  return {
    tls_certificate_sds_secret_configs: [SDS_CERTIFICATE],
    combined_validation_context: {
      default_validation_context: { match_typed_subject_alt_names: sanMatchers },
      validation_context_sds_secret_config: SDS_ROOT_CA,
    },
    ...(alpn.length > 0 ? { alpn_protocols: alpn } : {}),
  };
}

/** Inbound mTLS for Envoy: any identity of the trust domain; RBAC narrows it down. */
export function envoyDownstreamTls(trustDomain: string, alpn: readonly string[]): Record<string, unknown> {
  return anyOf(ProtoType.downstreamTls, {
    require_client_certificate: { value: true },
    common_tls_context: envoyCommonTls([{ san_type: 'URI', matcher: { prefix: trustDomainPrefix(trustDomain) } }], alpn),
  });
}

/** Outbound mTLS for Envoy: the peer must present one of the destination's SPIFFE IDs. */
export function envoyUpstreamTls(sni: string, spiffeIds: readonly string[], alpn: readonly string[]): Record<string, unknown> {
  return anyOf(ProtoType.upstreamTls, {
    sni,
    common_tls_context: envoyCommonTls(
      spiffeIds.map((id) => ({ san_type: 'URI', matcher: { exact: id } })),
      alpn,
    ),
  });
}

function grpcCommonTls(spiffeIds: readonly string[]): Record<string, unknown> {
  return {
    tls_certificate_provider_instance: { instance_name: CERTIFICATE_PROVIDER_INSTANCE },
    validation_context: {
      ca_certificate_provider_instance: { instance_name: CERTIFICATE_PROVIDER_INSTANCE },
      // grpc-js-xds reads only the untyped matcher list.
      ...(spiffeIds.length > 0 ? { match_subject_alt_names: spiffeIds.map((exact) => ({ exact })) } : {}),
    },
  };
}

export function grpcDownstreamTls(requireClientCertificate: boolean): Record<string, unknown> {
  return anyOf(ProtoType.downstreamTls, {
    require_client_certificate: { value: requireClientCertificate },
    common_tls_context: grpcCommonTls([]),
  });
}

export function grpcUpstreamTls(spiffeIds: readonly string[]): Record<string, unknown> {
  return anyOf(ProtoType.upstreamTls, { common_tls_context: grpcCommonTls(spiffeIds) });
}
