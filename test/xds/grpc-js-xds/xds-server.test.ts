// xDS-enabled gRPC servers (gRFC A36) configured by our XdsServer: a grpc-js-xds XdsServer in one
// child process asks for its Listener by the templated name, binds only once it is valid, and a
// grpc-js-xds client in another child process reaches it through xds:///.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TypeUrl } from '../../../src/xds/contract.js';
import { eventually } from '../../support/conformance.js';
import { freePort, GrpcXdsClientProcess, grpcBootstrap, SERVER_LISTENER_TEMPLATE } from '../../support/grpc-xds-process.js';
import { serverListenerMessage } from '../../support/resources.js';
import { startXdsHarness, type XdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;

describe('grpc-js-xds XdsServer configured by Accord', () => {
  const serverNode = `xds-server-${randomUUID()}`;
  const clientNode = `xds-client-${randomUUID()}`;
  let h: XdsHarness;
  let serverProc: GrpcXdsClientProcess;
  let clientProc: GrpcXdsClientProcess;
  let address: string;
  let listenerName: string;

  function serverListenerStatus() {
    return h.server
      .proxies()
      .find((p) => p.nodeId === serverNode)
      ?.types.find((t) => t.typeUrl === T.Listener);
  }

  beforeAll(async () => {
    h = await startXdsHarness();
    const port = await freePort();
    address = `127.0.0.1:${port}`;
    listenerName = SERVER_LISTENER_TEMPLATE.replace('%s', address);
    [serverProc, clientProc] = await Promise.all([
      GrpcXdsClientProcess.start(grpcBootstrap({ serverUri: h.address, nodeId: serverNode })),
      GrpcXdsClientProcess.start(grpcBootstrap({ serverUri: h.address, nodeId: clientNode })),
    ]);
    h.set(clientNode, T.Listener, [h.make.listener('echo', 'echo-route')]);
    h.set(clientNode, T.RouteConfiguration, [h.make.route('echo-route', 'echo-cluster', ['echo'])]);
    h.set(clientNode, T.Cluster, [h.make.cluster('echo-cluster', { serviceName: 'echo-eds' })]);
    h.set(clientNode, T.ClusterLoadAssignment, [h.make.cla('echo-eds', port)]);
  });

  afterAll(async () => {
    await Promise.all([serverProc?.stop(), clientProc?.stop()]);
    await h?.close();
  });

  it('a server Listener with use_original_dst is NACKed and the port stays unbound', async () => {
    h.set(serverNode, T.Listener, [h.make.raw(T.Listener, listenerName, serverListenerMessage(listenerName, '127.0.0.1', Number(address.split(':')[1]), { useOriginalDst: true }))]);
    let isBound = false;
    const bound = serverProc.serve(address, 'xds-server', 30_000).then(() => {
      isBound = true;
    });
    const nack = await eventually(() => serverListenerStatus()?.lastNack, 10_000, 'server Listener NACK');
    expect(nack.errorDetail.length).toBeGreaterThan(0);
    expect(serverListenerStatus()?.subscribed).toEqual([listenerName]);
    expect(isBound).toBe(false);
    expect(serverProc.servingStates.filter((s) => s.code === 0)).toEqual([]);
    // Fix the Listener: the server binds and serves.
    h.set(serverNode, T.Listener, [h.make.raw(T.Listener, listenerName, serverListenerMessage(listenerName, '127.0.0.1', Number(address.split(':')[1])))]);
    await bound;
    const status = await eventually(() => {
      const t = serverListenerStatus();
      return t?.resources.every((r) => r.status === 'ACKED') ? t : undefined;
    });
    expect(status.resources.map((r) => r.name)).toEqual([listenerName]);
  });

  it('a proxyless client reaches the xDS-enabled server through xds:///echo', async () => {
    await clientProc.callUntil('xds:///echo', (r) => r.ok && r.reply === 'xds-server');
    expect(serverProc.servingStates.some((s) => s.address === address && s.code === 0)).toBe(true);
  });
});
