import { beforeAll, describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { parse } from 'yaml';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { checkMessage } from '../support/proto-rules/check.js';
import { envoyBootstrap, envoyBootstrapYaml, XDS_CLUSTER_NAME, type EnvoyBootstrapInput } from '../../src/mesh/bootstrap/index.js';
import { workload } from './fixtures.js';

const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyProtos();
});

function input(overrides: Partial<EnvoyBootstrapInput> = {}): EnvoyBootstrapInput {
  return {
    workload: workload(),
    token: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJwYXltZW50cy03ZjljMiJ9.c2lnbmF0dXJl',
    xdsAddresses: ['accord.mesh.svc:18000'],
    caBundlePath: '/etc/accord/ca.pem',
    xdsServerSpiffeId: 'spiffe://mesh.local/ns/accord-system/sa/accord',
    tls: true,
    delta: false,
    ...overrides,
  };
}

// Narrow views of the generated object, for assertions.
interface Cluster {
  name: string;
  type: string;
  load_assignment: { endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { address: string; port_value: number } } } }[] }[] };
  transport_socket?: { typed_config: Record<string, unknown> & { sni?: string; common_tls_context: { validation_context: Record<string, unknown> } } };
}
interface Bootstrap {
  node: { id: string; cluster: string; locality: Record<string, string> };
  dynamic_resources: { ads_config: { api_type: string; grpc_services: { envoy_grpc: { cluster_name: string }; initial_metadata: { key: string; value: string }[] }[] } };
  static_resources: { clusters: Cluster[] };
  admin: { address: { socket_address: { address: string; port_value: number } } };
}
const view = (value: Record<string, unknown>): Bootstrap => value as unknown as Bootstrap;

describe('envoyBootstrap', () => {
  it.each<[string, Partial<EnvoyBootstrapInput>]>([
    ['TLS to a named control plane', {}],
    ['plaintext, delta xDS, several IP replicas', { tls: false, delta: true, xdsAddresses: ['10.0.0.1:18000', '10.0.0.2:18000', '[fd00::3]:18000'] }],
    ['TLS without a pinned SPIFFE ID, mixed names and IPs', { xdsServerSpiffeId: undefined, xdsAddresses: ['a.accord:18000', '10.0.0.2:18000'] }],
    ['a workload with no locality', { workload: workload({ locality: {} }) }],
    ['a workload with a sub-zone', { workload: workload({ locality: { region: 'r', zone: 'z', subZone: 'rack-4' } }) }],
  ])('passes Envoy\'s Bootstrap proto and validate rules: %s', (_name, overrides) => {
    expect(checkMessage(root, BOOTSTRAP, envoyBootstrap(input(overrides)))).toEqual([]);
  });

  it('identifies the node by workload id, service and locality', () => {
    expect(view(envoyBootstrap(input())).node).toEqual({
      id: 'payments-7f9c2',
      cluster: 'payments',
      locality: { region: 'eu-west-1', zone: 'eu-west-1a' },
    });
  });

  it('sends the workload token as gRPC metadata on the ADS stream to the accord-xds cluster', () => {
    const ads = view(envoyBootstrap(input())).dynamic_resources.ads_config;
    expect(ads.api_type).toBe('GRPC');
    expect(ads.grpc_services).toEqual([
      {
        envoy_grpc: { cluster_name: XDS_CLUSTER_NAME },
        initial_metadata: [{ key: 'authorization', value: `Bearer ${input().token}` }],
      },
    ]);
    expect(view(envoyBootstrap(input({ delta: true }))).dynamic_resources.ads_config.api_type).toBe('DELTA_GRPC');
  });

  it('lists every replica as an endpoint, STATIC for IPs and STRICT_DNS for names', () => {
    const ips = view(envoyBootstrap(input({ xdsAddresses: ['10.0.0.1:18000', '[fd00::3]:18001'] }))).static_resources.clusters[0];
    expect(ips.type).toBe('STATIC');
    expect(ips.load_assignment.endpoints[0].lb_endpoints.map((e) => e.endpoint.address.socket_address)).toEqual([
      { address: '10.0.0.1', port_value: 18000 },
      { address: 'fd00::3', port_value: 18001 },
    ]);
    expect(ips).not.toHaveProperty('dns_lookup_family');
    const names = view(envoyBootstrap(input({ xdsAddresses: ['a.accord:18000', 'b.accord:18000'] }))).static_resources.clusters[0];
    expect(names.type).toBe('STRICT_DNS');
    expect(names.load_assignment.endpoints[0].lb_endpoints).toHaveLength(2);
  });

  // Real Envoy never reached `accord serve` on 127.0.0.1 through `--xds localhost:PORT`: with the
  // default lookup family it resolved localhost to ::1 only (test/envoy/bootstrap.test.ts).
  it('prefers IPv4 addresses for control planes given by name', () => {
    const names = view(envoyBootstrap(input({ xdsAddresses: ['localhost:18000'] }))).static_resources.clusters[0] as Cluster & { dns_lookup_family?: string };
    expect(names.dns_lookup_family).toBe('V4_PREFERRED');
  });

  it('validates the xDS server against the mesh CA and its SPIFFE ID when TLS is on', () => {
    const tls = view(envoyBootstrap(input())).static_resources.clusters[0].transport_socket?.typed_config;
    expect(tls?.['@type']).toBe('type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext');
    expect(tls?.sni).toBe('accord.mesh.svc');
    expect(tls?.common_tls_context.validation_context).toEqual({
      trusted_ca: { filename: '/etc/accord/ca.pem' },
      match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://mesh.local/ns/accord-system/sa/accord' } }],
    });
    const unpinned = view(envoyBootstrap(input({ xdsServerSpiffeId: undefined }))).static_resources.clusters[0].transport_socket?.typed_config;
    expect(unpinned?.common_tls_context.validation_context).toEqual({ trusted_ca: { filename: '/etc/accord/ca.pem' } });
    expect(view(envoyBootstrap(input({ tls: false }))).static_resources.clusters[0].transport_socket).toBeUndefined();
  });

  it('puts the admin interface on 127.0.0.1:15000', () => {
    expect(view(envoyBootstrap(input())).admin.address.socket_address).toEqual({ address: '127.0.0.1', port_value: 15000 });
  });

  it.each([[[]], [['accord']], [['accord:0']], [['accord:70000']], [['[not-ipv6]:18000']], [['fd00::1:18000']]])('refuses xDS addresses %j', (addresses) => {
    expect(() => envoyBootstrap(input({ xdsAddresses: addresses }))).toThrow();
  });

  it.each<[string, Partial<EnvoyBootstrapInput>]>([
    ['an empty token', { token: '' }],
    ['a token that would split the header', { token: 'abc\r\nx-evil: 1' }],
    ['TLS without a CA bundle', { caBundlePath: '' }],
  ])('refuses %s', (_name, overrides) => {
    expect(() => envoyBootstrap(input(overrides))).toThrow();
  });

  it('renders the same object as YAML', () => {
    expect(parse(envoyBootstrapYaml(input()))).toEqual(envoyBootstrap(input()));
  });

  it('is caught by the checker when broken', () => {
    const broken = envoyBootstrap(input());
    const cluster = view(broken).static_resources.clusters[0];
    cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 65536;
    expect(checkMessage(root, BOOTSTRAP, broken).map((p) => p.path)).toEqual([
      'static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value',
    ]);
  });
});
