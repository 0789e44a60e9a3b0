// Checklist §1.F: Delta (incremental) xDS.
import { describe, expect, it } from 'vitest';
import type { DeltaDiscoveryResponse, DeltaStream } from '../../support/ads-client.js';
import { dnames, node, QUIET_MS, TypeUrl, useHarness } from '../../support/conformance.js';
import { startXdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;

function ack(s: DeltaStream, res: DeltaDiscoveryResponse): void {
  s.send({ type_url: res.type_url, response_nonce: res.nonce });
}

function versionOf(res: DeltaDiscoveryResponse, name: string): string | undefined {
  return res.resources.find((r) => r.name === name)?.version;
}

describe('§1.F Delta xDS', () => {
  const h = useHarness();

  it('22: every Delta response has a non-empty nonce, never repeated on the stream', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    h().set('n1', T.Cluster, [make.cluster('a')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    s.send({ type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const nonces = [(await s.nextOfType(T.ClusterLoadAssignment)).nonce, (await s.nextOfType(T.Cluster)).nonce];
    for (let i = 2; i <= 6; i++) {
      h().set('n1', T.ClusterLoadAssignment, [make.cla('a', i)]);
      const res = await s.nextOfType(T.ClusterLoadAssignment);
      ack(s, res);
      nonces.push(res.nonce);
    }
    for (const n of nonces) expect(n).not.toBe('');
    expect(new Set(nonces).size).toBe(nonces.length);
  });

  it('23: every Resource has a name and an opaque version that changes only when content changes', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'b'] });
    const first = await s.next();
    for (const r of first.resources) {
      expect(r.name).not.toBe('');
      expect(r.version).not.toBe('');
    }
    ack(s, first);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    const second = await s.next();
    expect(dnames(second)).toEqual(['a']);
    expect(versionOf(second, 'a')).not.toBe(versionOf(first, 'a'));
    ack(s, second);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const third = await s.next();
    // Content-derived: the same content has the same version again.
    expect(versionOf(third, 'a')).toBe(versionOf(first, 'a'));
  });

  it('9: Delta — an ACK is not answered; nothing is sent until the config changes', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await s.next();
    ack(s, first);
    await s.expectNone(QUIET_MS);
    ack(s, first);
    await s.expectNone(QUIET_MS);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2)]);
    expect(dnames(await s.next())).toEqual(['a']);
  });

  it('9: Delta — a non-existent name is reported once, not in a loop, even when every response is ACKed', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('present')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['missing'] });
    const deadline = Date.now() + 2 * QUIET_MS;
    while (Date.now() < deadline) {
      const r = await s.next(deadline - Date.now()).catch(() => undefined);
      if (!r) break;
      ack(s, r);
    }
    expect(s.received.length).toBe(1);
    expect(s.received[0].removed_resources).toEqual(['missing']);
  });

  it('24: a request with a stale nonce still updates the subscription', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await s.next();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    const second = await s.next();
    expect(second.nonce).not.toBe(first.nonce);
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, resource_names_subscribe: ['b'] });
    const third = await s.next();
    expect(dnames(third)).toEqual(['b']);
  });

  it('24: one request can ACK and change the subscription at once', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await s.next();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, resource_names_subscribe: ['b'], resource_names_unsubscribe: ['a'] });
    const second = await s.next();
    expect(dnames(second)).toEqual(['b']);
    ack(s, second);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    await s.expectNone(QUIET_MS);
  });

  it('25: a NACK (error_detail) is not answered by re-pushing the rejected versions; the next change is pushed', async () => {
    const { make, server } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await s.next();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, error_detail: { code: 13, message: 'bad endpoints' } });
    await s.expectNone(QUIET_MS);
    const status = server
      .proxies()
      .find((p) => p.nodeId === 'n1')
      ?.types.find((t) => t.typeUrl === T.ClusterLoadAssignment);
    expect(status?.lastNack?.errorDetail).toContain('bad endpoints');
    const summary = server.proxySummaries().find((p) => p.nodeId === 'n1')?.types.find((t) => t.typeUrl === T.ClusterLoadAssignment);
    expect(summary).toMatchObject({ resources: 1, nacked: true, oldestUnackedAt: undefined, lastNonce: first.nonce });
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2)]);
    const second = await s.next();
    expect(dnames(second)).toEqual(['a']);
    expect(versionOf(second, 'a')).not.toBe(versionOf(first, 'a'));
  });

  it('26: every existing name in resource_names_subscribe is sent, even if the client already has it', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const first = await s.next();
    ack(s, first);
    // Envoy's remove-then-add: unsubscribe and subscribe again in separate requests.
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_unsubscribe: ['a'] });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const again = await s.next();
    expect(dnames(again)).toEqual(['a']);
    ack(s, again);
    // And a plain re-subscribe of a name already held.
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a'] });
    const third = await s.next();
    expect(dnames(third)).toEqual(['a']);
  });

  it('27: unsubscribing stops updates; unknown names are ignored; no response is needed', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'b'] });
    const first = await s.next();
    ack(s, first);
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_unsubscribe: ['a', 'never-subscribed'] });
    for (const r of await s.drain(QUIET_MS)) {
      expect(r.resources).toEqual([]);
      ack(s, r);
    }
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
    await s.expectNone(QUIET_MS);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 2)]);
    expect(dnames(await s.next())).toEqual(['b']);
    expect(s.isEnded).toBe(false);
  });

  it('27: unsubscribing an explicit name that wildcard still covers is answered with the resource', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*', 'c1'] });
    const first = await s.next();
    expect(dnames(first)).toEqual(['c1', 'c2']);
    ack(s, first);
    s.send({ type_url: T.Cluster, resource_names_unsubscribe: ['c1'] });
    const res = await s.next();
    expect([...dnames(res), ...res.removed_resources]).toContain('c1');
    // Still covered by wildcard: it must not have been removed.
    expect(res.removed_resources).not.toContain('c1');
  });

  it('28: a subscribed name that does not exist is reported in removed_resources and sent when it appears', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'ghost'] });
    const first = await s.next();
    expect(dnames(first)).toEqual(['a']);
    expect(first.removed_resources).toContain('ghost');
    ack(s, first);
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a'), make.cla('ghost')]);
    const second = await s.next();
    expect(dnames(second)).toEqual(['ghost']);
  });

  const deletable = [
    { label: 'LDS', type: T.Listener, wildcard: true },
    { label: 'CDS', type: T.Cluster, wildcard: true },
    { label: 'RDS', type: T.RouteConfiguration, wildcard: false },
    { label: 'EDS', type: T.ClusterLoadAssignment, wildcard: false },
    { label: 'SDS', type: T.Secret, wildcard: false },
  ] as const;

  for (const { label, type, wildcard } of deletable) {
    it(`29: ${label} — a resource that disappears is named in removed_resources`, async () => {
      const m = h().make;
      const build = (name: string) => m.raw(type, name, rawMessage(type, name));
      h().set('n1', type, [build('x1'), build('x2')]);
      const s = h().client().delta();
      s.send({ node: node('n1'), type_url: type, resource_names_subscribe: wildcard ? ['*'] : ['x1', 'x2'] });
      const first = await s.next();
      expect(dnames(first)).toEqual(['x1', 'x2']);
      ack(s, first);
      h().set('n1', type, [build('x1')]);
      const second = await s.next();
      expect(second.removed_resources).toEqual(['x2']);
      expect(second.resources).toEqual([]);
    });
  }

  it('30: the legacy wildcard (first request with empty lists) on CDS returns every cluster', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster });
    const first = await s.next();
    expect(dnames(first)).toEqual(['c1', 'c2']);
    ack(s, first);
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2'), make.cluster('c3')]);
    expect(dnames(await s.next())).toEqual(['c3']);
  });

  it('30: the first wildcard request is answered even when there is nothing to send', async () => {
    h().set('n1', T.Listener, []);
    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Listener });
    const first = await s.next();
    expect(first.resources).toEqual([]);
    expect(first.nonce).not.toBe('');
  });

  it('31: reconnect with initial_resource_versions: changed or unknown versions are sent, vanished names removed', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('same', 1), make.cla('changed', 2)]);
    const probe = h().client().delta();
    probe.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['same'] });
    const current = await probe.next();
    const sameVersion = versionOf(current, 'same');
    if (!sameVersion) throw new Error('no version for "same"');
    probe.close();

    const s = h().client().delta();
    s.send({
      node: node('n1'),
      type_url: T.ClusterLoadAssignment,
      resource_names_subscribe: ['same', 'changed', 'gone'],
      initial_resource_versions: { same: sameVersion, changed: 'old-version', gone: 'old-version' },
    });
    const res = await s.next();
    expect(dnames(res)).toContain('changed');
    expect(res.removed_resources).toContain('gone');
    expect(res.removed_resources).not.toContain('same');
    expect(res.removed_resources).not.toContain('changed');
  });

  it('31: reconnect with initial_resource_versions on a wildcard: unchanged resources are skipped', async () => {
    const { make } = h();
    h().set('n1', T.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    const probe = h().client().delta();
    probe.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
    const current = await probe.next();
    const c1 = versionOf(current, 'c1');
    if (!c1) throw new Error('no version for c1');
    probe.close();

    const s = h().client().delta();
    s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'], initial_resource_versions: { c1, old: 'v0' } });
    const res = await s.next();
    expect(dnames(res)).toEqual(['c2']);
    expect(res.removed_resources).toEqual(['old']);
  });

  it('31: reconnect to another replica with every version current: nothing is resent, later changes are', async () => {
    const replica = await startXdsHarness({ root: h().root });
    try {
      for (const x of [h(), replica]) x.set('n1', T.Cluster, [x.make.cluster('c1'), x.make.cluster('c2')]);
      const probe = h().client().delta();
      probe.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'] });
      const current = await probe.next();
      const versions = Object.fromEntries(current.resources.map((r) => [r.name, r.version]));
      probe.close();
      const s = replica.client().delta();
      s.send({ node: node('n1'), type_url: T.Cluster, resource_names_subscribe: ['*'], initial_resource_versions: versions });
      for (const r of await s.drain(QUIET_MS)) {
        expect(r.resources).toEqual([]);
        expect(r.removed_resources).toEqual([]);
        ack(s, r);
      }
      replica.set('n1', T.Cluster, [replica.make.cluster('c1'), replica.make.cluster('c2', { connectTimeoutSeconds: 7 })]);
      expect(dnames(await s.next())).toEqual(['c2']);
    } finally {
      await replica.close();
    }
  });

  it('32: the same name in subscribe and unsubscribe is handled deterministically', async () => {
    const { make } = h();
    h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 1), make.cla('b', 1)]);
    const outcomes: string[] = [];
    for (let i = 0; i < 2; i++) {
      const s = h().client().delta();
      s.send({ node: node('n1'), type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'b'], resource_names_unsubscribe: ['a'] });
      const first = await s.next();
      ack(s, first);
      outcomes.push(JSON.stringify(dnames(first)));
      if (i === 1) {
        // Whatever was decided also governs later updates of `a`.
        const subscribedToA = dnames(first).includes('a');
        h().set('n1', T.ClusterLoadAssignment, [make.cla('a', 2), make.cla('b', 1)]);
        if (subscribedToA) expect(dnames(await s.next())).toEqual(['a']);
        else await s.expectNone(QUIET_MS);
      }
    }
    expect(outcomes[0]).toBe(outcomes[1]);
    expect(JSON.parse(outcomes[0])).toContain('b');
  });
});

function rawMessage(type: string, name: string): Record<string, unknown> {
  switch (type) {
    case T.Listener:
      return { name, api_listener: {} };
    case T.Cluster:
      return { name, type: 'EDS' };
    case T.RouteConfiguration:
      return { name };
    case T.ClusterLoadAssignment:
      return { cluster_name: name };
    default:
      return { name };
  }
}
