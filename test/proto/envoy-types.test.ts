import { beforeAll, describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { checkEncoded, checkMessage, type Problem } from '../support/proto-rules/check.js';

const CLUSTER = 'envoy.config.cluster.v3.Cluster';
const LISTENER = 'envoy.config.listener.v3.Listener';
const ROUTE_CONFIGURATION = 'envoy.config.route.v3.RouteConfiguration';

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyProtos();
});

function goodCluster(): Record<string, unknown> {
  return {
    name: 'payments',
    type: 'STATIC',
    connect_timeout: '0.25s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: 'payments',
      endpoints: [
        {
          locality: { region: 'r1', zone: 'z1' },
          load_balancing_weight: { value: 1 },
          lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.7', port_value: 9001 } } } }],
        },
      ],
    },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    },
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: 'default', sds_config: { ads: {}, resource_api_version: 'V3' } }],
          validation_context: {
            match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://mesh.local/ns/default/sa/payments' } }],
          },
        },
      },
    },
  };
}

function goodListener(): Record<string, unknown> {
  return {
    name: 'inbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15006 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
              stat_prefix: 'inbound',
              rds: { route_config_name: 'inbound', config_source: { ads: {}, resource_api_version: 'V3' } },
              http_filters: [
                { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
              ],
            },
          },
        ],
      },
    ],
  };
}

function goodRouteConfiguration(): Record<string, unknown> {
  return {
    name: 'outbound',
    virtual_hosts: [
      {
        name: 'payments',
        domains: ['payments', 'payments.default:9001'],
        routes: [
          {
            match: { prefix: '/', headers: [{ name: ':authority', string_match: { exact: 'payments' } }] },
            route: { cluster: 'payments', timeout: { seconds: 5, nanos: 0 } },
          },
        ],
      },
    ],
  };
}

/** Path and rule of each problem, sorted: the order of problems follows field declaration order. */
function pathsAndRules(problems: Problem[]): { path: string; rule: string }[] {
  return problems.map(({ path, rule }) => ({ path, rule })).sort((a, b) => a.path.localeCompare(b.path));
}

function only(problems: Problem[]): Problem {
  expect(problems).toHaveLength(1);
  return problems[0];
}

describe('checkMessage on real Envoy types', () => {
  it('passes correct Cluster, Listener and RouteConfiguration objects', () => {
    expect(checkMessage(root, CLUSTER, goodCluster())).toEqual([]);
    expect(checkMessage(root, LISTENER, goodListener())).toEqual([]);
    expect(checkMessage(root, ROUTE_CONFIGURATION, goodRouteConfiguration())).toEqual([]);
  });

  it('catches a negative connect_timeout (duration gt 0)', () => {
    const problem = only(checkMessage(root, CLUSTER, { ...goodCluster(), connect_timeout: { seconds: -1 } }));
    expect(problem).toMatchObject({ path: 'connect_timeout', rule: 'duration.gt' });
  });

  it('catches a zero connect_timeout given as a string', () => {
    expect(only(checkMessage(root, CLUSTER, { ...goodCluster(), connect_timeout: '0s' }))).toMatchObject({
      path: 'connect_timeout',
      rule: 'duration.gt',
    });
  });

  it('applies string min_len to an empty and to an absent name', () => {
    expect(only(checkMessage(root, CLUSTER, { ...goodCluster(), name: '' }))).toMatchObject({ path: 'name', rule: 'string.min_len' });
    const { name: _name, ...unnamed } = goodCluster();
    expect(only(checkMessage(root, CLUSTER, unnamed))).toMatchObject({ path: 'name', rule: 'string.min_len' });
  });

  it('catches a port above 65535 on a listener socket address', () => {
    const listener = { ...goodListener(), address: { socket_address: { address: '0.0.0.0', port_value: 70000 } } };
    expect(only(checkMessage(root, LISTENER, listener))).toMatchObject({ path: 'address.socket_address.port_value', rule: 'uint32.lte' });
  });

  it('catches an unknown enum name', () => {
    expect(only(checkMessage(root, CLUSTER, { ...goodCluster(), type: 'STATICK' }))).toMatchObject({ path: 'type', rule: 'enum.unknown_name' });
  });

  it('catches an undefined enum number (defined_only)', () => {
    expect(only(checkMessage(root, CLUSTER, { ...goodCluster(), lb_policy: 42 }))).toMatchObject({ path: 'lb_policy', rule: 'enum.defined_only' });
  });

  it('catches an unknown field inside an Any, by the Any @type', () => {
    const cluster = goodCluster();
    const socket = cluster.transport_socket as { typed_config: Record<string, unknown> };
    socket.typed_config.common_tls_context = { ...(socket.typed_config.common_tls_context as object), tls_certificate_sds_secret: [] };
    expect(only(checkMessage(root, CLUSTER, cluster))).toMatchObject({
      path: 'transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret',
      rule: 'unknown_field',
    });
  });

  it('catches an unknown top-level field and an unknown Any type', () => {
    const problems = checkMessage(root, CLUSTER, {
      ...goodCluster(),
      conect_timeout: '1s',
      transport_socket: { name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.NoSuchThing' } },
    });
    expect(pathsAndRules(problems)).toEqual([
      { path: 'conect_timeout', rule: 'unknown_field' },
      { path: 'transport_socket.typed_config', rule: 'any.unknown_type' },
    ]);
  });

  it('catches a missing required oneof', () => {
    const listener = { ...goodListener(), address: { socket_address: { address: '0.0.0.0' } } };
    expect(only(checkMessage(root, LISTENER, listener))).toMatchObject({ path: 'address.socket_address.port_specifier', rule: 'oneof.required' });
    expect(only(checkMessage(root, LISTENER, { ...goodListener(), address: {} }))).toMatchObject({ path: 'address.address', rule: 'oneof.required' });
  });

  it('catches two members of one oneof', () => {
    const listener = { ...goodListener(), address: { socket_address: { address: '0.0.0.0', port_value: 1, named_port: 'http' } } };
    expect(only(checkMessage(root, LISTENER, listener))).toMatchObject({ path: 'address.socket_address.port_specifier', rule: 'oneof.multiple' });
  });

  it('applies repeated min_items to VirtualHost.domains, and item rules to each domain', () => {
    const routes = goodRouteConfiguration();
    const [host] = routes.virtual_hosts as Record<string, unknown>[];
    expect(only(checkMessage(root, ROUTE_CONFIGURATION, { ...routes, virtual_hosts: [{ ...host, domains: [] }] }))).toMatchObject({
      path: 'virtual_hosts[0].domains',
      rule: 'repeated.min_items',
    });
    expect(only(checkMessage(root, ROUTE_CONFIGURATION, { ...routes, virtual_hosts: [{ ...host, domains: ['ok', 'bad\nhost'] }] }))).toMatchObject({
      path: 'virtual_hosts[0].domains[1]',
      rule: 'string.well_known_regex',
    });
  });

  it('checks HeaderMatcher.name as an HTTP header name (Envoy marks it non-strict)', () => {
    const routes = goodRouteConfiguration();
    const withHeader = (name: string): unknown => ({
      ...routes,
      virtual_hosts: [{ name: 'h', domains: ['*'], routes: [{ match: { prefix: '/', headers: [{ name, present_match: true }] }, route: { cluster: 'c' } }] }],
    });
    expect(checkMessage(root, ROUTE_CONFIGURATION, withHeader('x-request-id'))).toEqual([]);
    expect(only(checkMessage(root, ROUTE_CONFIGURATION, withHeader('x-bad\r\nname')))).toMatchObject({
      path: 'virtual_hosts[0].routes[0].match.headers[0].name',
      rule: 'string.well_known_regex',
    });
    expect(only(checkMessage(root, ROUTE_CONFIGURATION, withHeader('')))).toMatchObject({
      path: 'virtual_hosts[0].routes[0].match.headers[0].name',
      rule: 'string.min_len',
    });
  });

  it('reports wrong value types', () => {
    const problems = checkMessage(root, CLUSTER, {
      ...goodCluster(),
      name: 7,
      connect_timeout: 'soon',
      per_connection_buffer_limit_bytes: { value: -1 },
      dns_lookup_family: true,
      load_assignment: 'payments',
    });
    expect(pathsAndRules(problems)).toEqual([
      { path: 'connect_timeout', rule: 'type' },
      { path: 'dns_lookup_family', rule: 'type' },
      { path: 'load_assignment', rule: 'type' },
      { path: 'name', rule: 'type' },
      { path: 'per_connection_buffer_limit_bytes.value', rule: 'type' },
    ]);
  });

  it('checks a packed Any by decoding its bytes', () => {
    const tlsType = root.lookupType('envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    const bad = tlsType.encode(tlsType.fromObject({ sni: 'x'.repeat(300) })).finish();
    const cluster = { ...goodCluster(), transport_socket: { name: 'tls', typed_config: { type_url: `type.googleapis.com/${'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'}`, value: Buffer.from(bad).toString('base64') } } };
    expect(only(checkMessage(root, CLUSTER, cluster))).toMatchObject({ path: 'transport_socket.typed_config.sni', rule: 'string.max_bytes' });
  });

  it('checks encoded bytes, Anys inside included', () => {
    const type = root.lookupType(CLUSTER);
    const message = type.fromObject({
      name: 'payments',
      connect_timeout: { seconds: -1 },
      transport_socket: {
        name: 'tls',
        typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', sni: 'x'.repeat(300) },
      },
    });
    expect(pathsAndRules(checkEncoded(root, CLUSTER, type.encode(message).finish()))).toEqual([
      { path: 'connect_timeout', rule: 'duration.gt' },
      { path: 'transport_socket.typed_config.sni', rule: 'string.max_bytes' },
    ]);
    expect(checkEncoded(root, CLUSTER, type.encode(type.fromObject({ name: 'payments', connect_timeout: { seconds: 1 } })).finish())).toEqual([]);
    expect(pathsAndRules(checkEncoded(root, CLUSTER, new Uint8Array([0x0a, 0xff])))).toEqual([{ path: '', rule: 'type' }]);
  });

  it('reads 64-bit values given as protobufjs Longs', () => {
    // -1 as a signed Long: both 32-bit halves all ones.
    const timeout = { seconds: new protobuf.util.Long(0xffffffff, 0xffffffff, false), nanos: 0 };
    expect(only(checkMessage(root, CLUSTER, { ...goodCluster(), connect_timeout: timeout }))).toMatchObject({ path: 'connect_timeout', rule: 'duration.gt' });
  });

  it('reports deprecated fields only when asked', () => {
    const bootstrap = { watchdog: {} };
    expect(checkMessage(root, 'envoy.config.bootstrap.v3.Bootstrap', bootstrap)).toEqual([]);
    expect(pathsAndRules(checkMessage(root, 'envoy.config.bootstrap.v3.Bootstrap', bootstrap, { reportDeprecated: true }))).toEqual([
      { path: 'watchdog', rule: 'deprecated' },
    ]);
  });

  it('checks a resource of any type through google.protobuf.Any', () => {
    const asAny = (typeName: string, fields: Record<string, unknown>): unknown => ({ '@type': `type.googleapis.com/${typeName}`, ...fields });
    expect(checkMessage(root, 'google.protobuf.Any', asAny(CLUSTER, goodCluster()))).toEqual([]);
    expect(pathsAndRules(checkMessage(root, 'google.protobuf.Any', asAny(CLUSTER, { ...goodCluster(), name: '' })))).toEqual([
      { path: 'name', rule: 'string.min_len' },
    ]);
  });

  it('throws for a type the loaded protos do not have', () => {
    expect(() => checkMessage(root, 'envoy.config.cluster.v3.Clusterr', {})).toThrow();
  });
});
