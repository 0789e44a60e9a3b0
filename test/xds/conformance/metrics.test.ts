// Metrics: NACKs and ACKs are counted in the registry handed to the server.
import { describe, expect, it } from 'vitest';
import { ack, nack } from '../../support/ads-client.js';
import { eventually, node, TypeUrl, useHarness } from '../../support/conformance.js';

const T = TypeUrl;

describe('metrics', () => {
  const h = useHarness();

  it('every SotW and Delta NACK increments accord_xds_nacks_total; ACKs do not', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    expect(await h().counter('accord_xds_nacks_total')).toBe(0);

    const sotw = h().client().sotw();
    sotw.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const cds = await sotw.next();
    ack(sotw, cds);
    await eventually(async () => ((await h().counter('accord_xds_acks_total')) >= 1 ? true : undefined));
    expect(await h().counter('accord_xds_nacks_total')).toBe(0);
    nack(sotw, cds, cds.version_info, 'bad cluster');
    await eventually(async () => ((await h().counter('accord_xds_nacks_total')) === 1 ? true : undefined));

    const delta = h().client().delta();
    delta.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const eds = await delta.next();
    delta.send({ type_url: T.ClusterLoadAssignment, response_nonce: eds.nonce, error_detail: { code: 13, message: 'bad endpoints' } });
    await eventually(async () => ((await h().counter('accord_xds_nacks_total')) === 2 ? true : undefined));
  });

  it('connected streams are visible in the registry and go back down when streams end', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    await s.next();
    const text = await h().metrics.metrics();
    expect(text).toMatch(/accord_xds_connected_streams\{[^}]*\} 1/);
    s.close();
    await eventually(async () => (/accord_xds_connected_streams\{[^}]*\} 1/.test(await h().metrics.metrics()) ? undefined : true));
  });
});
