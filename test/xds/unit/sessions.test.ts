import { status as GrpcStatus } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ResourceEncoder } from '../../../src/xds/encoder.js';
import { SnapshotCache } from '../../../src/xds/snapshot-cache.js';
import { StreamRefusedError, TypeUrl, type ConfigSource, type EndStream, type ProxyView } from '../../../src/xds/contract.js';
import { envoyRoot } from './protos.js';
import { SessionDriver, sessionEnvironment, settle, type Clock } from './session-harness.js';

const T = TypeUrl;
const root = envoyRoot();
const encoder = new ResourceEncoder(root);
const node = { id: 'n1', cluster: 'c', locality: { zone: 'z1' } };

const cluster = (name: string, seconds = 1) => encoder.encode(T.Cluster, name, { name, type: 'EDS', connect_timeout: { seconds } });
const cla = (name: string, port = 9000) =>
  encoder.encode(T.ClusterLoadAssignment, name, {
    cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }],
  });
const edsCluster = (name: string, serviceName: string, seconds = 1) =>
  encoder.encode(T.Cluster, name, { name, type: 'EDS', eds_cluster_config: { service_name: serviceName }, connect_timeout: { seconds } });
const staticCluster = (name: string, seconds = 1) => encoder.encode(T.Cluster, name, { name, type: 'STATIC', connect_timeout: { seconds } });
const listener = (name: string, port = 8080) =>
  encoder.encode(T.Listener, name, { name, address: { socket_address: { address: '0.0.0.0', port_value: port } } });

function setup(source?: (cache: SnapshotCache) => ConfigSource) {
  const cache = new SnapshotCache();
  const clock: Clock = { now: 1_000 };
  const registry = new Registry();
  const env = sessionEnvironment(root, source ? source(cache) : cache, clock, registry);
  return { cache, clock, registry, env };
}

/** Wraps a SnapshotCache view and records the transport's calls into it. */
function recordingSource(cache: SnapshotCache, calls: string[]): ConfigSource {
  return {
    open: (ctx) => {
      const view = cache.open(ctx);
      const recorded: ProxyView = {
        resources: (typeUrl) => view.resources(typeUrl),
        authorize: (typeUrl, name) => view.authorize(typeUrl, name),
        interest: (typeUrl, names) => calls.push(`interest ${typeUrl.split('.').pop()} ${[...names].sort().join(',')}`),
        acked: (typeUrl, versions) => calls.push(`acked ${typeUrl.split('.').pop()} ${[...versions].map(([name]) => name).sort().join(',')}`),
        nacked: (typeUrl, detail) => calls.push(`nacked ${typeUrl.split('.').pop()} ${detail}`),
        watch: (onChange) => view.watch(onChange),
        close: () => {
          calls.push('close');
          view.close();
        },
      };
      return recorded;
    },
  };
}

describe('SotW session', () => {
  it('sends nothing to a reconnecting client whose version_info matches the content, on any replica', async () => {
    const a = setup();
    const b = setup();
    for (const { cache } of [a, b]) cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y')]);
    const first = SessionDriver.sotw(root, a.env);
    first.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x', 'y'] });
    await settle();
    const [response] = first.newSotw();
    expect(first.names(response).sort()).toEqual(['x', 'y']);

    const reconnect = SessionDriver.sotw(root, b.env);
    reconnect.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['y', 'x'], version_info: response.version_info });
    await settle();
    expect(reconnect.newSotw()).toEqual([]);
    b.cache.setResources('n1', T.ClusterLoadAssignment, [cla('x', 1), cla('y')]);
    await settle();
    const [update] = reconnect.newSotw();
    expect(reconnect.names(update)).toEqual(['x']);

    const stale = SessionDriver.sotw(root, b.env);
    stale.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x', 'y'], version_info: response.version_info });
    await settle();
    expect(stale.newSotw()).toHaveLength(1);
  });

  it('make-before-break: a removed cluster stays in CDS until the listener change is out, then goes', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.Cluster, [cluster('old'), cluster('keep')]);
    cache.setResources('n1', T.Listener, [listener('l1')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.Cluster });
    s.send({ node, type_url: T.Listener });
    await settle();
    for (const r of s.newSotw()) s.send({ type_url: r.type_url, response_nonce: r.nonce, version_info: r.version_info });
    await settle();
    expect(s.newSotw()).toEqual([]);

    cache.setResources('n1', T.Listener, [listener('l1', 9090)]);
    cache.setResources('n1', T.Cluster, [cluster('keep'), cluster('new')]);
    await settle();
    const pushed = s.newSotw();
    expect(pushed.map((r) => `${r.type_url.split('.').pop()}:${s.names(r).sort().join(',')}`)).toEqual([
      'Cluster:keep,new,old',
      'Listener:l1',
      'Cluster:keep,new',
    ]);
    const status = s.session.status().types.find((t) => t.typeUrl === T.Cluster);
    expect(status?.resources.map((r) => r.name).sort()).toEqual(['keep', 'new']);
  });

  it('tells the view about interest, ACKs, NACKs and the end of the stream', async () => {
    const calls: string[] = [];
    const { cache, env } = setup((c) => recordingSource(c, calls));
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x'] });
    await settle();
    const [first] = s.newSotw();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, version_info: first.version_info, resource_names: ['x', 'y'] });
    await settle();
    const [second] = s.newSotw();
    s.send({
      type_url: T.ClusterLoadAssignment,
      response_nonce: second.nonce,
      version_info: first.version_info,
      resource_names: ['x', 'y'],
      error_detail: { code: 13, message: 'rejected y' },
    });
    s.session.close();
    expect(calls).toEqual([
      'interest ClusterLoadAssignment x',
      'acked ClusterLoadAssignment x',
      'interest ClusterLoadAssignment x,y',
      'nacked ClusterLoadAssignment rejected y',
      'close',
    ]);
  });

  it('a client that ACKs only after many unacknowledged pushes ends with every resource ACKed, and the view hears the accepted versions', async () => {
    const calls: string[] = [];
    const { cache, env } = setup((c) => recordingSource(c, calls));
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x', 'y'] });
    await settle();
    // 40 pushes, none ACKed: x changes every time, y once (its entry keeps pointing at an old response).
    for (let port = 1; port <= 40; port++) {
      cache.setResources('n1', T.ClusterLoadAssignment, [cla('x', 9000 + port), cla('y', port === 1 ? 1 : 9000)]);
      await settle();
    }
    const pushed = s.newSotw();
    expect(pushed.length).toBeGreaterThan(1);
    const status = () => s.session.status().types.find((t) => t.typeUrl === T.ClusterLoadAssignment)!;
    expect(status().resources.map((r) => r.status)).toEqual(['SENT', 'SENT']);
    const last = pushed[pushed.length - 1];
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: last.nonce, version_info: last.version_info, resource_names: ['x', 'y'] });
    await settle();
    expect(status().resources.map((r) => r.status)).toEqual(['ACKED', 'ACKED']);
    expect(status().oldestUnackedAt).toBeUndefined();
    expect(calls.filter((c) => c.startsWith('acked'))).toEqual(['acked ClusterLoadAssignment x,y']);
  });

  it('a NACKed resource stays NACKED in status() after a later response is ACKed, until it is sent again', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y')]);
    const s = SessionDriver.sotw(root, env);
    const status = () => s.session.status().types[0];
    const rows = () => status().resources.map((r) => [r.name, r.status, r.errorDetail]);
    const answer = (extra: Record<string, unknown> = {}) => {
      const [response] = s.newSotw();
      s.send({ type_url: T.ClusterLoadAssignment, response_nonce: response.nonce, version_info: response.version_info, resource_names: ['x', 'y'], ...extra });
      return response;
    };
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x', 'y'] });
    await settle();
    answer();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y', 2)]);
    await settle();
    expect(s.names(answer({ error_detail: { code: 13, message: 'bad y' } }))).toEqual(['y']);
    expect(rows()).toEqual([
      ['x', 'ACKED', undefined],
      ['y', 'NACKED', 'bad y'],
    ]);
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x', 3), cla('y', 2)]);
    await settle();
    expect(s.names(answer())).toEqual(['x']);
    expect(rows()).toEqual([
      ['x', 'ACKED', undefined],
      ['y', 'NACKED', 'bad y'],
    ]);
    expect(s.session.summary().types[0]).toMatchObject({ resources: 2, nacked: true, oldestUnackedAt: undefined });
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x', 3), cla('y', 4)]);
    await settle();
    expect(s.names(answer())).toEqual(['y']);
    expect(rows()).toEqual([
      ['x', 'ACKED', undefined],
      ['y', 'ACKED', undefined],
    ]);
    expect(s.session.summary().types[0]).toMatchObject({ resources: 2, nacked: false });
  });

  it('reports SENT with the oldest unacknowledged send time, and a removed name leaves the report', async () => {
    const { cache, clock, env } = setup();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x', 'y'] });
    await settle();
    const [first] = s.newSotw();
    const status = () => s.session.status().types[0];
    expect(status().resources.map((r) => r.status)).toEqual(['SENT', 'SENT']);
    expect(status().oldestUnackedAt).toBe(new Date(1_000).toISOString());
    clock.now = 2_000;
    // ACK of the first response and unsubscribing y in one request.
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, version_info: first.version_info, resource_names: ['x'] });
    await settle();
    expect(status().resources.map((r) => [r.name, r.status])).toEqual([['x', 'ACKED']]);
    expect(status().oldestUnackedAt).toBeUndefined();
    expect(s.session.summary().types[0]).toMatchObject({ resources: 1, nacked: false, oldestUnackedAt: undefined });
  });

  it('observes push latency from the change notification to the ACK of the response carrying it', async () => {
    const { cache, env, clock, registry } = setup();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x'] });
    await settle();
    const [first] = s.newSotw();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, version_info: first.version_info, resource_names: ['x'] });
    clock.now = 5_000;
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x', 1)]);
    await settle();
    const [update] = s.newSotw();
    clock.now = 5_250;
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: update.nonce, version_info: update.version_info, resource_names: ['x'] });
    const histogram = (await registry.getSingleMetric('accord_xds_push_latency_seconds')?.get())?.values ?? [];
    const sample = (name: string) => histogram.find((v) => (v as { metricName?: string }).metricName === name)?.value;
    expect(sample('accord_xds_push_latency_seconds_count')).toBe(1);
    expect(sample('accord_xds_push_latency_seconds_sum')).toBeCloseTo(0.25);
  });

  it('queues requests while an asynchronous open() runs, and ends the stream if open() refuses', async () => {
    const { cache, env } = setup((c) => ({
      open: async (ctx) => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        if (ctx.node.id === 'intruder') throw new StreamRefusedError('UNAUTHENTICATED', 'no token');
        return c.open(ctx);
      },
    }));
    cache.setResources('n1', T.Cluster, [cluster('a')]);
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('a')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.Cluster });
    s.send({ type_url: T.ClusterLoadAssignment, resource_names: ['a'] });
    await new Promise((resolve) => setTimeout(resolve, 60));
    await settle();
    expect(s.newSotw().map((r) => r.type_url)).toEqual([T.Cluster, T.ClusterLoadAssignment]);

    const refused = SessionDriver.sotw(root, env);
    refused.send({ node: { id: 'intruder' }, type_url: T.Cluster });
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(refused.call.ended).toEqual({ code: GrpcStatus.UNAUTHENTICATED, details: 'no token' });
  });

  it.each(['sotw', 'delta'] as const)('%s: the source can end an open stream through the end hook it gets in watch()', async (mode) => {
    const ends: EndStream[] = [];
    let closed = 0;
    const { cache, env, registry } = setup((c) => ({
      open: (ctx) => {
        const view = c.open(ctx);
        return {
          ...view,
          watch: (onChange, end) => {
            if (end) ends.push(end);
            return view.watch(onChange);
          },
          close: () => {
            closed += 1;
            view.close();
          },
        };
      },
    }));
    cache.setResources('n1', T.Cluster, [cluster('a')]);
    const s = mode === 'sotw' ? SessionDriver.sotw(root, env) : SessionDriver.delta(root, env);
    s.send({ node, type_url: T.Cluster, ...(mode === 'delta' ? { resource_names_subscribe: ['*'] } : {}) });
    await settle();
    expect(s.call.ended).toBeUndefined();
    expect(ends).toHaveLength(1);
    ends[0]('PERMISSION_DENIED', 'credentials withdrawn');
    expect(s.call.ended).toEqual({ code: GrpcStatus.PERMISSION_DENIED, details: 'credentials withdrawn' });
    expect(closed).toBe(1);
    // A second call (the source racing itself) changes nothing.
    ends[0]('UNAUTHENTICATED', 'again');
    expect(s.call.ended?.code).toBe(GrpcStatus.PERMISSION_DENIED);
    const refused = (await registry.getSingleMetric('accord_xds_refused_streams_total')?.get())?.values ?? [];
    expect(refused.find((v) => v.labels.reason === 'ended_by_source')?.value).toBe(1);
  });

  it('writes the same resource bytes to every stream; only the nonce differs', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x')]);
    const one = SessionDriver.sotw(root, env);
    const two = SessionDriver.sotw(root, env);
    for (const s of [one, two]) s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['x'] });
    await settle();
    const [a] = one.call.written;
    const [b] = two.call.written;
    const [ra] = one.newSotw();
    const [rb] = two.newSotw();
    expect(ra.nonce).not.toBe(rb.nonce);
    expect(a.subarray(a.length - 200)).toEqual(b.subarray(b.length - 200));
    expect(ra.version_info).toBe(rb.version_info);
  });
});

describe('warming after a CDS update (envoy#13009)', () => {
  /** Clusters a (EDS), b (EDS on service name "b-eds"), s (static); EDS subscribed to a and b-eds; everything ACKed. */
  async function warmedStream(delta: boolean) {
    const { cache, env } = setup();
    cache.setResources('n1', T.Cluster, [cluster('a'), edsCluster('b', 'b-eds'), staticCluster('s')]);
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('a'), cla('b-eds')]);
    const s = delta ? SessionDriver.delta(root, env) : SessionDriver.sotw(root, env);
    const pushed = () =>
      delta
        ? s.newDelta().map((r) => {
            s.send({ type_url: r.type_url, response_nonce: r.nonce });
            return `${r.type_url.split('.').pop()}:${r.resources.map((x) => x.name).sort().join(',')}`;
          })
        : s.newSotw().map((r) => {
            s.send({ type_url: r.type_url, response_nonce: r.nonce, version_info: r.version_info, resource_names: r.type_url === T.Cluster ? [] : ['a', 'b-eds'] });
            return `${r.type_url.split('.').pop()}:${s.names(r).sort().join(',')}`;
          });
    if (delta) {
      s.send({ node, type_url: T.Cluster });
      s.send({ node, type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['a', 'b-eds'] });
    } else {
      s.send({ node, type_url: T.Cluster });
      s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b-eds'] });
    }
    await settle();
    expect(pushed()).toEqual(['Cluster:a,b,s', 'ClusterLoadAssignment:a,b-eds']);
    await settle();
    // The first CDS response made every cluster new, so a warming resend of both may follow.
    pushed();
    await settle();
    expect(pushed()).toEqual([]);
    return { cache, pushed };
  }

  for (const delta of [false, true]) {
    const mode = delta ? 'delta' : 'SotW';
    const allClusters = delta ? 'Cluster:a' : 'Cluster:a,b,s';

    it(`${mode}: resends the endpoints of the updated cluster only, not of unchanged ones`, async () => {
      const { cache, pushed } = await warmedStream(delta);
      cache.setResources('n1', T.Cluster, [cluster('a', 7), edsCluster('b', 'b-eds'), staticCluster('s')]);
      await settle();
      expect(pushed()).toEqual([allClusters, 'ClusterLoadAssignment:a']);
    });

    it(`${mode}: resends the endpoints named by the updated cluster's service_name`, async () => {
      const { cache, pushed } = await warmedStream(delta);
      cache.setResources('n1', T.Cluster, [cluster('a'), edsCluster('b', 'b-eds', 7), staticCluster('s')]);
      await settle();
      expect(pushed()).toEqual([delta ? 'Cluster:b' : allClusters, 'ClusterLoadAssignment:b-eds']);
    });

    it(`${mode}: resends no endpoints after an update of a static cluster`, async () => {
      const { cache, pushed } = await warmedStream(delta);
      cache.setResources('n1', T.Cluster, [cluster('a'), edsCluster('b', 'b-eds'), staticCluster('s', 7)]);
      await settle();
      expect(pushed()).toEqual([delta ? 'Cluster:s' : allClusters]);
    });
  }
});

describe('SotW subscription updates', () => {
  it('a wildcard subscriber that also names a resource gets it again (item 13)', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.Cluster, [cluster('c1'), cluster('c2')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.Cluster, resource_names: ['*'] });
    await settle();
    const [all] = s.newSotw();
    expect(s.names(all).sort()).toEqual(['c1', 'c2']);
    s.send({ type_url: T.Cluster, response_nonce: all.nonce, version_info: all.version_info, resource_names: ['*', 'c1'] });
    await settle();
    const [again] = s.newSotw();
    expect(s.names(again).sort()).toEqual(['c1', 'c2']);
    s.send({ type_url: T.Cluster, response_nonce: again.nonce, version_info: again.version_info, resource_names: ['*', 'c1'] });
    cache.setResources('n1', T.Cluster, [cluster('c1'), cluster('c2')]);
    await settle();
    expect(s.newSotw()).toEqual([]);
  });

  it('a repeated name that hides a dropped one still unsubscribes it', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('a'), cla('b')]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names: ['a', 'b'] });
    await settle();
    const [first] = s.newSotw();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, version_info: first.version_info, resource_names: ['a', 'a'] });
    expect(s.session.status().types[0].subscribed).toEqual(['a']);
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('a'), cla('b', 1)]);
    await settle();
    expect(s.newSotw()).toEqual([]);
  });
});

describe('Delta session', () => {
  it('make-before-break: removals of clusters go out after the listener change', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.Cluster, [cluster('old'), cluster('keep')]);
    cache.setResources('n1', T.Listener, [listener('l1')]);
    const s = SessionDriver.delta(root, env);
    s.send({ node, type_url: T.Cluster });
    s.send({ node, type_url: T.Listener });
    await settle();
    for (const r of s.newDelta()) s.send({ type_url: r.type_url, response_nonce: r.nonce });
    cache.setResources('n1', T.Listener, [listener('l1', 9090)]);
    cache.setResources('n1', T.Cluster, [cluster('keep'), cluster('new')]);
    await settle();
    const pushed = s.newDelta().map(
      (r) => `${r.type_url.split('.').pop()}:+${r.resources.map((x) => x.name).join(',')}-${r.removed_resources.join(',')}`,
    );
    expect(pushed).toEqual(['Cluster:+new-', 'Listener:+l1-', 'Cluster:+-old']);
  });

  it('sends subscribed endpoints again after a CDS update, right after the CDS response (envoy#13009)', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.Cluster, [cluster('c1')]);
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('c1')]);
    const s = SessionDriver.delta(root, env);
    s.send({ node, type_url: T.Cluster });
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['c1'] });
    await settle();
    for (const r of s.newDelta()) s.send({ type_url: r.type_url, response_nonce: r.nonce });
    await settle();
    for (const r of s.newDelta()) s.send({ type_url: r.type_url, response_nonce: r.nonce });
    await settle();
    expect(s.newDelta()).toEqual([]);
    cache.setResources('n1', T.Cluster, [cluster('c1', 7)]);
    await settle();
    expect(s.newDelta().map((r) => `${r.type_url.split('.').pop()}:${r.resources.map((x) => x.name).join(',')}`)).toEqual([
      'Cluster:c1',
      'ClusterLoadAssignment:c1',
    ]);
  });

  it('reports ACKed and NACKed resources with the error in status()', async () => {
    const { cache, env } = setup();
    cache.setResources('n1', T.ClusterLoadAssignment, [cla('x'), cla('y')]);
    const s = SessionDriver.delta(root, env);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names_subscribe: ['x'] });
    await settle();
    const [first] = s.newDelta();
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: first.nonce, resource_names_subscribe: ['y'] });
    await settle();
    const [second] = s.newDelta();
    expect(second.resources.map((r) => r.name)).toEqual(['y']);
    s.send({ type_url: T.ClusterLoadAssignment, response_nonce: second.nonce, error_detail: { code: 13, message: 'bad y' } });
    const status = s.session.status();
    expect(status.nodeId).toBe('n1');
    const eds = status.types[0];
    expect(eds.mode).toBe('delta');
    expect(eds.subscribed).toEqual(['x', 'y']);
    expect(eds.lastNack).toMatchObject({ nonce: second.nonce, errorDetail: 'bad y' });
    expect(eds.resources.map((r) => [r.name, r.status, r.errorDetail])).toEqual([
      ['x', 'ACKED', undefined],
      ['y', 'NACKED', 'bad y'],
    ]);
  });

  it('does not treat initial_resource_versions as authorization: a claimed secret is still checked', async () => {
    const secret = encoder.encode(T.Secret, 'other-key', { name: 'other-key' });
    const cache = new SnapshotCache({ authorize: (_ctx, _type, name) => (name === 'other-key' ? 'belongs to another workload' : undefined) });
    const env = sessionEnvironment(root, cache, { now: 0 });
    cache.setResources('n1', T.Secret, [secret]);
    const s = SessionDriver.delta(root, env);
    s.send({ node, type_url: T.Secret, resource_names_subscribe: ['other-key'], initial_resource_versions: { 'other-key': 'guessed' } });
    await settle();
    expect(s.newDelta()).toEqual([]);
    expect(s.call.ended?.code).toBe(GrpcStatus.PERMISSION_DENIED);
    expect(s.call.ended?.details).toMatch(/other-key.*belongs to another workload/);
  });
});

describe('Delta subscription limit', () => {
  it('ends a stream whose subscriptions of one type pile up beyond the per-request name limit', async () => {
    const { env } = setup();
    const s = SessionDriver.delta(root, env);
    const batch = (from: number) => Array.from({ length: 60 }, (_, i) => `n${from + i}`);
    s.send({ node, type_url: T.ClusterLoadAssignment, resource_names_subscribe: batch(0) });
    await settle();
    expect(s.call.ended).toBeUndefined();
    s.send({ type_url: T.ClusterLoadAssignment, resource_names_subscribe: batch(60) });
    expect(s.call.ended?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(s.call.ended?.details).toMatch(/120 subscriptions .* exceed the limit of 100/);
  });
});

describe('authorization of secrets', () => {
  it('checks a secret again on every send, so revoking access ends the stream at the next rotation', async () => {
    let allowed = true;
    const cache = new SnapshotCache({ authorize: () => (allowed ? undefined : 'access revoked') });
    const env = sessionEnvironment(root, cache, { now: 0 });
    cache.setResources('n1', T.Secret, [encoder.encode(T.Secret, 'key', { name: 'key' })]);
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: T.Secret, resource_names: ['key'] });
    await settle();
    expect(s.newSotw()).toHaveLength(1);
    allowed = false;
    cache.setResources('n1', T.Secret, [encoder.encode(T.Secret, 'key', { name: 'key', generic_secret: { secret: { inline_string: 'v2' } } })]);
    await settle();
    expect(s.newSotw()).toEqual([]);
    expect(s.call.ended?.code).toBe(GrpcStatus.PERMISSION_DENIED);
  });
});

describe('authorization on reconnect', () => {
  it('a SotW client claiming the current version of a secret it may not read is refused', async () => {
    const secret = encoder.encode(T.Secret, 'other-key', { name: 'other-key' });
    const open = new SnapshotCache();
    const guarded = new SnapshotCache({ authorize: () => 'not yours' });
    for (const cache of [open, guarded]) cache.setResources('n1', T.Secret, [secret]);
    const first = SessionDriver.sotw(root, sessionEnvironment(root, open, { now: 0 }));
    first.send({ node, type_url: T.Secret, resource_names: ['other-key'] });
    await settle();
    const [response] = first.newSotw();
    const s = SessionDriver.sotw(root, sessionEnvironment(root, guarded, { now: 0 }));
    s.send({ node, type_url: T.Secret, resource_names: ['other-key'], version_info: response.version_info });
    await settle();
    expect(s.newSotw()).toEqual([]);
    expect(s.call.ended?.code).toBe(GrpcStatus.PERMISSION_DENIED);
  });
});
