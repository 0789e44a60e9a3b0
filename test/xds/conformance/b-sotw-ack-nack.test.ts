// Checklist §1.B: SotW nonce, version, ACK and NACK.
import { describe, expect, it } from 'vitest';
import { ack, nack } from '../../support/ads-client.js';
import { eventually, names, node, QUIET_MS, TypeUrl, useHarness } from '../../support/conformance.js';
import { startXdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;

describe('§1.B SotW nonce, version, ACK/NACK', () => {
  const h = useHarness();

  it('6: every response has a non-empty nonce, never repeated on the stream (across types and updates)', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['c1'] });
    const nonces: string[] = [];
    let cds = await s.nextOfType(T.Cluster);
    let eds = await s.nextOfType(T.ClusterLoadAssignment);
    nonces.push(cds.nonce, eds.nonce);
    for (let i = 2; i <= 5; i++) {
      ack(s, cds);
      ack(s, eds);
      h().set('n1', T.Cluster, [make.cluster('c1', { connectTimeoutSeconds: i })]);
      cds = await s.nextOfType(T.Cluster);
      h().set('n1', T.ClusterLoadAssignment, [make.cla('c1', i)]);
      eds = await s.nextOfType(T.ClusterLoadAssignment);
      nonces.push(cds.nonce, eds.nonce);
      // The CDS update may be followed by an EDS resend (item 21): take those too.
      for (const extra of await s.drain(100)) nonces.push(extra.nonce);
    }
    for (const n of nonces) expect(n).not.toBe('');
    expect(new Set(nonces).size).toBe(nonces.length);
  });

  it('7: a request whose response_nonce is not the latest nonce for its type gets no response', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const first = await s.next();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    const second = await s.next();
    expect(second.nonce).not.toBe(first.nonce);
    // Stale: answers the first response, and asks for `b` too.
    s.send({ type_url: T.ClusterLoadAssignment, version_info: first.version_info, response_nonce: first.nonce, resource_names: ['a', 'b'] });
    await s.expectNone(QUIET_MS);
  });

  it('7: the first request of a type on a new stream is processed even if it carries a nonce from an old stream', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const old = h().client().sotw();
    old.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const res = await old.next();
    old.close();
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'], response_nonce: res.nonce, version_info: 'not-current' });
    const again = await s.next();
    expect(names(codec, again)).toEqual(['a']);
  });

  it('8: error_detail decides NACK even when version_info equals the current version', async () => {
    const { make, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    nack(s, res, res.version_info, 'rejected although version matches');
    const status = await eventually(() =>
      server
        .proxies()
        .find((p) => p.nodeId === 'n1')
        ?.types.find((t) => t.typeUrl === T.Cluster && t.lastNack),
    );
    expect(status.lastNack?.nonce).toBe(res.nonce);
    expect(status.lastNack?.errorDetail).toContain('rejected although version matches');
    // The per-stream summary (status reports, metrics) agrees without listing resources.
    const summary = server.proxySummaries().find((p) => p.nodeId === 'n1')?.types.find((t) => t.typeUrl === T.Cluster);
    expect(summary).toMatchObject({ resources: 1, nacked: true, oldestUnackedAt: undefined, lastNonce: res.nonce });
    expect(await h().counter('accord_xds_nacks_total')).toBe(1);
  });

  it('8: a request with the latest nonce and no error_detail is an ACK even if version_info differs', async () => {
    const { make, server } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    s.send({ type_url: T.Cluster, version_info: 'something-else', response_nonce: res.nonce });
    const status = await eventually(() =>
      server
        .proxies()
        .find((p) => p.nodeId === 'n1')
        ?.types.find((t) => t.typeUrl === T.Cluster && t.resources.some((r) => r.status === 'ACKED')),
    );
    expect(status.lastNack).toBeUndefined();
    const summary = server.proxySummaries().find((p) => p.nodeId === 'n1')?.types.find((t) => t.typeUrl === T.Cluster);
    expect(summary).toMatchObject({ resources: 1, nacked: false, oldestUnackedAt: undefined, lastNack: undefined });
    expect(await h().counter('accord_xds_nacks_total')).toBe(0);
  });

  it('9: an ACK of the current version is held: nothing is sent until the config changes', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const res = await s.next();
    ack(s, res);
    await s.expectNone(QUIET_MS);
    // A duplicate ACK (same nonce, same names) is still nothing to answer.
    ack(s, res);
    await s.expectNone(QUIET_MS);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const next = await s.next();
    expect(names(codec, next)).toEqual(['c1', 'c2']);
  });

  it('9: a request for a non-existent EDS name does not produce a loop of empty responses', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('present')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['missing'] });
    // At most one (empty) answer, and after ACKing it, silence.
    const first = await s.next(QUIET_MS).catch(() => undefined);
    if (first) {
      expect(first.resources).toEqual([]);
      ack(s, first, ['missing']);
    }
    await s.expectNone(QUIET_MS);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('present'), make.cla('missing')]);
    const appeared = await s.next();
    expect(names(codec, appeared)).toEqual(['missing']);
  });

  it('10: a NACKed version is not resent; the next config change is', async () => {
    const { make, codec } = h();
    h().set('n1', T.Cluster, [make.cluster('c1', { lbPolicy: 'MAGLEV' })]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
    const bad = await s.next();
    nack(s, bad, '', 'unsupported lb policy');
    await s.expectNone(QUIET_MS);
    nack(s, bad, '', 'unsupported lb policy');
    await s.expectNone(QUIET_MS);
    h().set('n1', T.Cluster, [make.cluster('c1')]);
    const good = await s.next();
    expect(good.version_info).not.toBe(bad.version_info);
    expect(names(codec, good)).toEqual(['c1']);
  });

  it('10: resource_names carried by a NACK are acted on', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('b')]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const first = await s.next();
    nack(s, first, '', 'bad a', ['a', 'b']);
    const res = await s.next();
    expect(names(codec, res)).toContain('b');
  });

  it('11: version_info changes whenever content changes and comes from content (equal across servers)', async () => {
    const other = await startXdsHarness({ root: h().root });
    try {
      const seed = (x: typeof other, port: number): void => x.set('n1', T.ClusterLoadAssignment, [x.make.cla('a', port), x.make.cla('b', 1)]);
      seed(h(), 1);
      seed(other, 1);
      const s1 = h().client().sotw();
      const s2 = other.client().sotw();
      for (const s of [s1, s2]) s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b'] });
      const [r1, r2] = await Promise.all([s1.next(), s2.next()]);
      expect(r1.version_info).not.toBe('');
      expect(r1.version_info).toBe(r2.version_info);
      ack(s1, r1);
      seed(h(), 2);
      const changed = await s1.next();
      expect(changed.version_info).not.toBe(r1.version_info);
      ack(s1, changed);
      // Re-setting identical content changes nothing: same version, nothing sent.
      seed(h(), 2);
      await s1.expectNone(QUIET_MS);
    } finally {
      await other.close();
    }
  });

  it('11: a client reconnecting to another replica with the current version_info is sent nothing until a change', async () => {
    const replica = await startXdsHarness({ root: h().root });
    try {
      for (const x of [h(), replica]) x.set('n1', T.Cluster, [x.make.cluster('c1'), x.make.cluster('c2')]);
      const s1 = h().client().sotw();
      s1.send({ node: node('n1'), type_url: T.Cluster, resource_names: [] });
      const res = await s1.next();
      s1.close();
      const s2 = replica.client().sotw();
      s2.send({ node: node('n1'), type_url: T.Cluster, resource_names: [], version_info: res.version_info, response_nonce: res.nonce });
      await s2.expectNone(QUIET_MS);
      replica.set('n1', T.Cluster, [replica.make.cluster('c1')]);
      expect(names(replica.codec, await s2.next())).toEqual(['c1']);
    } finally {
      await replica.close();
    }
  });

  it('12: only the latest request per type matters: a new request replaces the watch', async () => {
    const { make, codec } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().sotw();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    const first = await s.next();
    expect(names(codec, first)).toEqual(['a']);
    ack(s, first, ['b']);
    const second = await s.next();
    expect(names(codec, second)).toEqual(['b']);
    ack(s, second, ['b']);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    await s.expectNone(QUIET_MS);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 2)]);
    const third = await s.next();
    expect(names(codec, third)).toEqual(['b']);
  });
});
