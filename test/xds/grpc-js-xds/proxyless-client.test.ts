// The real client: @grpc/grpc-js-xds in a child process resolves xds:///echo through our
// XdsServer and makes real RPCs to plain grpc-js backends.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../../src/xds/contract.js';
import { eventually } from '../../support/conformance.js';
import { EchoBackend, GrpcXdsClientProcess, grpcBootstrap } from '../../support/grpc-xds-process.js';
import { startXdsHarness, type XdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;
const TARGET = 'xds:///echo';

describe('grpc-js-xds against the Accord xDS server', () => {
  const nodeId = `grpc-xds-${randomUUID()}`;
  let h: XdsHarness;
  let a: EchoBackend;
  let b: EchoBackend;
  let client: GrpcXdsClientProcess;

  function proxyType(typeUrl: string) {
    return h.server
      .proxies()
      .find((p) => p.nodeId === nodeId)
      ?.types.find((t) => t.typeUrl === typeUrl);
  }

  function setEndpoint(port: number, options?: { omitLocality?: boolean }): void {
    h.set(nodeId, T.ClusterLoadAssignment, [h.make.cla('echo-eds', port, options)]);
  }

  beforeAll(async () => {
    h = await startXdsHarness();
    [a, b] = await Promise.all([EchoBackend.start('backend-a'), EchoBackend.start('backend-b')]);
    h.set(nodeId, T.Listener, [h.make.listener('echo', 'echo-route')]);
    h.set(nodeId, T.RouteConfiguration, [h.make.route('echo-route', 'echo-cluster', ['echo'])]);
    h.set(nodeId, T.Cluster, [h.make.cluster('echo-cluster', { serviceName: 'echo-eds' })]);
    setEndpoint(a.port);
    client = await GrpcXdsClientProcess.start(grpcBootstrap({ serverUri: h.address, nodeId }));
  });

  afterAll(async () => {
    await client?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await h?.close();
  });

  it('resolves xds:///echo through LDS, RDS, CDS and EDS and reaches the backend; every type is ACKed', async () => {
    await client.callUntil(TARGET, (r) => r.ok && r.reply === 'backend-a');
    expect(a.calls).toBeGreaterThan(0);
    for (const type of [T.Listener, T.RouteConfiguration, T.Cluster, T.ClusterLoadAssignment]) {
      const status = await eventually(() => {
        const t = proxyType(type);
        return t?.ackedVersion ? t : undefined;
      });
      expect(status.mode).toBe('sotw');
      expect(status.lastNack).toBeUndefined();
      expect(status.resources.every((r) => r.status === 'ACKED')).toBe(true);
    }
    expect(proxyType(T.Listener)?.subscribed).toEqual(['echo']);
    expect(proxyType(T.ClusterLoadAssignment)?.subscribed).toEqual(['echo-eds']);
  });

  it('changing the endpoint moves traffic to the other backend', async () => {
    setEndpoint(b.port);
    await client.callUntil(TARGET, (r) => r.ok && r.reply === 'backend-b');
    const before = a.calls;
    for (let i = 0; i < 5; i++) {
      const r = await client.call(TARGET);
      expect(r).toEqual({ ok: true, reply: 'backend-b' });
    }
    expect(a.calls).toBe(before);
  });

  it('an EDS locality without `locality` is NACKed: visible in proxies() and accord_xds_nacks_total; traffic keeps flowing', async () => {
    const nacksBefore = await h.counter('accord_xds_nacks_total');
    setEndpoint(a.port, { omitLocality: true });
    const status = await eventually(() => proxyType(T.ClusterLoadAssignment)?.lastNack, 10_000, 'EDS NACK');
    expect(status.errorDetail.length).toBeGreaterThan(0);
    expect(await h.counter('accord_xds_nacks_total')).toBeGreaterThan(nacksBefore);
    expect(proxyType(T.ClusterLoadAssignment)?.resources.find((r) => r.name === 'echo-eds')?.status).toBe('NACKED');
    // CSDS tells an operator the same.
    const csds = await h.client().fetchClientStatus({ node_matchers: [{ node_id: { exact: nodeId } }] });
    const configs = (csds.config[0]?.generic_xds_configs ?? []) as { type_url: string; name: string; client_status: string; error_state?: { details?: string } }[];
    const eds = configs.find((c) => c.type_url === T.ClusterLoadAssignment && c.name === 'echo-eds');
    expect(eds?.client_status).toBe('NACKED');
    expect(eds?.error_state?.details).toBe(status.errorDetail);
    // The client keeps its last good endpoints.
    expect(await client.call(TARGET)).toEqual({ ok: true, reply: 'backend-b' });
  });

  it('a cluster with an unsupported lb_policy is NACKed; a good update afterwards is ACKed and used', async () => {
    const nacksBefore = await h.counter('accord_xds_nacks_total');
    h.set(nodeId, T.Cluster, [h.make.cluster('echo-cluster', { serviceName: 'echo-eds', lbPolicy: 'MAGLEV' })]);
    const nack = await eventually(() => proxyType(T.Cluster)?.lastNack, 10_000, 'CDS NACK');
    expect(nack.errorDetail.length).toBeGreaterThan(0);
    expect(await h.counter('accord_xds_nacks_total')).toBeGreaterThan(nacksBefore);

    h.set(nodeId, T.Cluster, [h.make.cluster('echo-cluster', { serviceName: 'echo-eds', connectTimeoutSeconds: 2 })]);
    setEndpoint(a.port);
    await client.callUntil(TARGET, (r) => r.ok && r.reply === 'backend-a');
    const eds = await eventually(() => {
      const t = proxyType(T.ClusterLoadAssignment);
      return t?.resources.every((r) => r.status === 'ACKED') ? t : undefined;
    }, 10_000);
    expect(eds.resources.map((r) => r.name)).toEqual(['echo-eds']);
  });
});
