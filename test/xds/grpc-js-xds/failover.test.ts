// The real client across a control-plane restart: grpc-js-xds reconnects to a new server (a
// "replica" with the same resources) on the same address, keeps routing, and follows changes
// made there. Content-hash versions mean the replica has nothing new to send it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { TypeUrl } from '../../../src/xds/contract.js';
import { loadEnvoyProtos } from '../../../src/xds/envoy-proto-loader.js';
import { eventually } from '../../support/conformance.js';
import { EchoBackend, GrpcXdsClientProcess, grpcBootstrap } from '../../support/grpc-xds-process.js';
import { startXdsHarness, type XdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;
const TARGET = 'xds:///echo';

function seed(h: XdsHarness, nodeId: string, port: number): void {
  h.set(nodeId, T.Listener, [h.make.listener('echo', 'echo-route')]);
  h.set(nodeId, T.RouteConfiguration, [h.make.route('echo-route', 'echo-cluster', ['echo'])]);
  h.set(nodeId, T.Cluster, [h.make.cluster('echo-cluster', { serviceName: 'echo-eds' })]);
  h.set(nodeId, T.ClusterLoadAssignment, [h.make.cla('echo-eds', port)]);
}

describe('grpc-js-xds across a control-plane restart', () => {
  const nodeId = `grpc-xds-failover-${randomUUID()}`;
  let root: protobuf.Root;
  let first: XdsHarness | undefined;
  let second: XdsHarness | undefined;
  let a: EchoBackend;
  let b: EchoBackend;
  let client: GrpcXdsClientProcess;

  beforeAll(async () => {
    root = loadEnvoyProtos();
    first = await startXdsHarness({ root });
    [a, b] = await Promise.all([EchoBackend.start('backend-a'), EchoBackend.start('backend-b')]);
    seed(first, nodeId, a.port);
    client = await GrpcXdsClientProcess.start(grpcBootstrap({ serverUri: first.address, nodeId }));
  });

  afterAll(async () => {
    await client?.stop();
    await Promise.all([a?.stop(), b?.stop()]);
    await first?.close();
    await second?.close();
  });

  it('keeps routing through a restart and follows an endpoint change made on the new server', async () => {
    if (!first) throw new Error('no first server');
    await client.callUntil(TARGET, (r) => r.ok && r.reply === 'backend-a');
    const address = first.address;
    await first.close();
    first = undefined;

    // RPCs keep working from the client's cached config while the control plane is away.
    expect(await client.call(TARGET)).toEqual({ ok: true, reply: 'backend-a' });

    const port = Number(address.slice(address.lastIndexOf(':') + 1));
    second = await startXdsHarness({ root, listenPort: port });
    const replica = second;
    seed(replica, nodeId, a.port);
    const reconnected = await eventually(() => replica.server.proxies().find((p) => p.nodeId === nodeId), 20_000, 'client reconnect');
    expect(reconnected.service).toBe('ads');
    // Every type is back in sync on the replica.
    await eventually(
      () => {
        const types = replica.server.proxies().find((p) => p.nodeId === nodeId)?.types ?? [];
        return types.length === 4 && types.every((t) => t.ackedVersion !== undefined && !t.lastNack) ? true : undefined;
      },
      10_000,
      'all four types ACKed on the replica',
    );

    replica.set(nodeId, T.ClusterLoadAssignment, [replica.make.cla('echo-eds', b.port)]);
    await client.callUntil(TARGET, (r) => r.ok && r.reply === 'backend-b');
  });
});
