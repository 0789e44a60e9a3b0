import { beforeAll, describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { checkMessage } from '../support/proto-rules/check.js';

// Resource shapes that grpc-js-xds accepts (see the team's grpc-js-xds notes), checked against
// Envoy's own rules: the checker must not raise false alarms on real-world gRPC-flavour xDS.
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyProtos();
});

describe('gRPC-flavour resources under Envoy rules', () => {
  it('passes a client cluster using certificate provider instances', () => {
    const cluster = {
      name: 'payments-cluster',
      type: 'EDS',
      lb_policy: 'ROUND_ROBIN',
      eds_cluster_config: { eds_config: { ads: {} }, service_name: 'payments-eds' },
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
          common_tls_context: {
            tls_certificate_provider_instance: { instance_name: 'default' },
            validation_context: {
              ca_certificate_provider_instance: { instance_name: 'default' },
              match_subject_alt_names: [{ exact: 'spiffe://mesh.local/ns/default/sa/payments' }],
            },
          },
        },
      },
    };
    expect(checkMessage(root, 'envoy.config.cluster.v3.Cluster', cluster)).toEqual([]);
  });

  it('passes endpoints with locality and weight', () => {
    const assignment = {
      cluster_name: 'payments-eds',
      endpoints: [
        {
          locality: { region: 'r1', zone: 'z1' },
          load_balancing_weight: { value: 1 },
          priority: 0,
          lb_endpoints: [{ health_status: 'HEALTHY', endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9001 } } } }],
        },
      ],
    };
    expect(checkMessage(root, 'envoy.config.endpoint.v3.ClusterLoadAssignment', assignment)).toEqual([]);
  });

  it('passes a server listener with mTLS and RBAC', () => {
    const listener = {
      name: 'grpc/server?xds.resource.listening_address=127.0.0.1:9001',
      address: { socket_address: { address: '127.0.0.1', port_value: 9001 } },
      filter_chains: [
        {
          name: 'mtls',
          filters: [
            {
              name: 'hcm',
              typed_config: {
                '@type': HCM,
                stat_prefix: 'in',
                route_config: { name: 'inbound', virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '' }, non_forwarding_action: {} }] }] },
                http_filters: [
                  {
                    name: 'envoy.filters.http.rbac',
                    typed_config: {
                      '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC',
                      rules: {
                        action: 'ALLOW',
                        policies: {
                          'allow-orders': {
                            permissions: [{ any: true }],
                            principals: [{ authenticated: { principal_name: { exact: 'spiffe://mesh.local/ns/default/sa/orders' } } }],
                          },
                        },
                      },
                    },
                  },
                  ROUTER,
                ],
              },
            },
          ],
          transport_socket: {
            name: 'envoy.transport_sockets.tls',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
              require_client_certificate: { value: true },
              common_tls_context: {
                tls_certificate_provider_instance: { instance_name: 'default' },
                validation_context: { ca_certificate_provider_instance: { instance_name: 'default' } },
              },
            },
          },
        },
      ],
    };
    expect(checkMessage(root, 'envoy.config.listener.v3.Listener', listener)).toEqual([]);
  });

  it('flags a client api_listener without stat_prefix, which Envoy requires and gRPC ignores', () => {
    const hcm = { '@type': HCM, rds: { route_config_name: 'payments-route', config_source: { ads: {} } }, http_filters: [ROUTER] };
    const listener = (extra: Record<string, unknown>): unknown => ({ name: 'payments', api_listener: { api_listener: { ...hcm, ...extra } } });
    expect(checkMessage(root, 'envoy.config.listener.v3.Listener', listener({})).map(({ path, rule }) => ({ path, rule }))).toEqual([
      { path: 'api_listener.api_listener.stat_prefix', rule: 'string.min_len' },
    ]);
    expect(checkMessage(root, 'envoy.config.listener.v3.Listener', listener({ stat_prefix: 'payments' }))).toEqual([]);
  });
});
