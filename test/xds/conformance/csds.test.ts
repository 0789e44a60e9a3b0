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
});
