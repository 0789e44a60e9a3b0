// CSDS and server.proxies(): which proxies are in sync, which NACKed and why.
import { describe, expect, it } from 'vitest';
import { ack, nack, type Decoded } from '../../support/ads-client.js';
import { eventually, node, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

interface GenericXdsConfig {
  type_url: string;
  name: string;
  version_info: string;
  client_status: string;
  error_state?: { details?: string; version_info?: string } | null;
}

function configsOf(response: { config: Decoded[] }, nodeId: string): GenericXdsConfig[] {
  const entry = response.config.find((c) => (c.node as { id?: string } | undefined)?.id === nodeId);
  return (entry?.generic_xds_configs as GenericXdsConfig[] | undefined) ?? [];
}

describe('CSDS and proxy status', () => {
  const h = useHarness();

  it('an ACKed resource shows as ACKED with its version in CSDS and in proxies()', async () => {
    const { make, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    ack(s, res);
    const status = await eventually(() =>
      server
        .proxies()
        .find((p) => p.nodeId === 'n1')
        ?.types.find((t) => t.typeUrl === T.Cluster && t.resources.some((r) => r.name === 'c1' && r.status === 'ACKED')),
    );
    expect(status.mode).toBe('sotw');
    expect(status.subscribed).toBe('*');
    expect(status.ackedVersion).toBe(res.version_info);

    const csds = await h().client().fetchClientStatus({});
    const c1 = configsOf(csds, 'n1').find((c) => c.type_url === T.Cluster && c.name === 'c1');
    expect(c1?.client_status).toBe('ACKED');
    expect(c1?.version_info).not.toBe('');
  });

  it('a NACK shows as NACKED with its error detail in CSDS and in proxies()', async () => {
    const { make, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1', { lbPolicy: 'MAGLEV' })]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    nack(s, res, '', 'unsupported lb_policy MAGLEV');
    const status = await eventually(() =>
      server
        .proxies()
        .find((p) => p.nodeId === 'n1')
        ?.types.find((t) => t.typeUrl === T.Cluster && t.lastNack),
    );
    expect(status.lastNack?.errorDetail).toContain('unsupported lb_policy MAGLEV');
    expect(status.resources.find((r) => r.name === 'c1')?.status).toBe('NACKED');

    const csds = await h().client().fetchClientStatus({});
    const c1 = configsOf(csds, 'n1').find((c) => c.type_url === T.Cluster && c.name === 'c1');
    expect(c1?.client_status).toBe('NACKED');
    expect(c1?.error_state?.details).toContain('unsupported lb_policy MAGLEV');
  });

  it('a Delta NACK shows in proxies() with mode delta', async () => {
    const { make, server } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const res = await s.next();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: res.nonce, error_detail: { code: 13, message: 'locality missing' } });
    const status = await eventually(() =>
      server
        .proxies()
        .find((p) => p.nodeId === 'n1')
        ?.types.find((t) => t.typeUrl === T.ClusterLoadAssignment && t.lastNack),
    );
    expect(status.mode).toBe('delta');
    expect(status.subscribed).toEqual(['a']);
    expect(status.lastNack?.nonce).toBe(res.nonce);
  });

  it('node_matchers select one proxy; the stream variant answers each request', async () => {
    const { make } = h();
    for (const id of ['n1', 'n2']) {
      h().set(id, T.Cluster, [make.cluster(`${id}-c`)]);
      const s = h().client().sotw();
      s.send({ node: node(id), type_url: T.Cluster, resource_names: [] });
      ack(s, await s.next());
    }
    const only = await h().client().fetchClientStatus({ node_matchers: [{ node_id: { exact: 'n2' } }] });
    const ids = only.config.map((c) => (c.node as { id?: string } | undefined)?.id);
    expect(ids).toEqual(['n2']);

    const stream = h().client().csdsStream();
    stream.send({ node_matchers: [{ node_id: { exact: 'n1' } }] });
    const first = await stream.next();
    expect(first.config.length).toBe(1);
    stream.send({});
    const all = await stream.next();
    expect(all.config.length).toBe(2);
  });

  it('never shows key material: secrets by name and version only, inline keys in other resources redacted (Any included)', async () => {
    const { encoder } = h();
    const keyPem = '-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n';
    const secret = encoder.encode(T.Secret, 'default', { name: 'default', tls_certificate: { certificate_chain: { inline_string: 'cert' }, private_key: { inline_string: keyPem } } });
    const tls = {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: 'cert' }, private_key: { inline_string: keyPem } }] },
    };
    const cluster = encoder.encode(T.Cluster, 'inline', { name: 'inline', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } }, transport_socket: { name: 'tls', typed_config: tls } });
    h().set('n1', T.Secret, [secret]);
    h().set('n1', T.Cluster, [cluster]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ node: node('n1'), type_url: T.Secret, resource_names: ['default'] });
    await s.nextOfType(T.Secret);
    await s.nextOfType(T.Cluster);
    for (const exclude of [false, true]) {
      const bytes = await h().client().fetchClientStatusBytes({ exclude_resource_contents: exclude });
      expect(bytes.includes('PRIVATE KEY')).toBe(false);
      expect(bytes.includes('secret-key-bytes')).toBe(false);
    }
    const csds = await h().client().fetchClientStatus({ exclude_resource_contents: false });
    const configs = configsOf(csds, 'n1') as (GenericXdsConfig & { xds_config?: Decoded | null })[];
    const shownSecret = configs.find((c) => c.type_url === T.Secret);
    expect(shownSecret).toMatchObject({ name: 'default', version_info: secret.version });
    expect(shownSecret?.xds_config ?? null).toBeNull();
    const shownCluster = configs.find((c) => c.type_url === T.Cluster)?.xds_config as { transport_socket?: { typed_config?: Record<string, unknown> } } | undefined;
    const typed = JSON.stringify(shownCluster?.transport_socket?.typed_config);
    expect(typed).toContain('[redacted]');
    expect(typed).toContain('cert');
  });
});
