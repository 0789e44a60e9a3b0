// xDS security end to end with the real client and server (gRFC A29, A41): the resources Accord
// serves carry certificate-provider TLS contexts and an RBAC filter; certificates come from
// file_watcher providers over openssl-made files. An allowed caller gets through over mTLS; a
// caller with another identity is denied by RBAC.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as grpc from '@grpc/grpc-js';
import { TypeUrl } from '../../../src/xds/contract.js';
import { freePort, GrpcXdsClientProcess, grpcBootstrap, SERVER_LISTENER_TEMPLATE } from '../../support/grpc-xds-process.js';
import { serverListenerMessage } from '../../support/resources.js';
import { issueTestPki, type TestPki } from '../../support/test-pki.js';
import { startXdsHarness, type XdsHarness } from '../../support/xds-harness.js';

const T = TypeUrl;
const spiffe = (sa: string): string => `spiffe://mesh.local/ns/default/sa/${sa}`;

describe('grpc-js-xds mTLS and RBAC from Accord resources', () => {
  const id = randomUUID();
  const nodes = { echo: `echo-${id}`, orders: `orders-${id}`, intruder: `intruder-${id}` };
  let h: XdsHarness;
  let pki: TestPki;
  let server: GrpcXdsClientProcess;
  let orders: GrpcXdsClientProcess;
  let intruder: GrpcXdsClientProcess;

  beforeAll(async () => {
    h = await startXdsHarness();
    pki = issueTestPki({ echo: spiffe('echo'), orders: spiffe('orders'), intruder: spiffe('intruder') });
    const port = await freePort();
    const address = `127.0.0.1:${port}`;
    const listenerName = SERVER_LISTENER_TEMPLATE.replace('%s', address);
    h.set(nodes.echo, T.Listener, [
      h.make.raw(T.Listener, listenerName, serverListenerMessage(listenerName, '127.0.0.1', port, { mtls: true, allowPrincipals: [spiffe('orders')] })),
    ]);
    for (const caller of [nodes.orders, nodes.intruder]) {
      h.set(caller, T.Listener, [h.make.listener('echo', 'echo-route')]);
      h.set(caller, T.RouteConfiguration, [h.make.route('echo-route', 'echo-cluster', ['echo'])]);
      h.set(caller, T.Cluster, [h.make.cluster('echo-cluster', { serviceName: 'echo-eds', tlsPeerSan: spiffe('echo') })]);
      h.set(caller, T.ClusterLoadAssignment, [h.make.cla('echo-eds', port)]);
    }
    const start = (name: keyof typeof nodes, env: Record<string, string> = {}) =>
      GrpcXdsClientProcess.start(grpcBootstrap({ serverUri: h.address, nodeId: nodes[name], certDir: pki.dirOf(name) }), env);
    [server, orders, intruder] = await Promise.all([start('echo', { GRPC_XDS_EXPERIMENTAL_RBAC: 'true' }), start('orders'), start('intruder')]);
    await server.serve(address, 'echo-over-mtls', 30_000);
  });

  afterAll(async () => {
    await Promise.all([server?.stop(), orders?.stop(), intruder?.stop()]);
    await h?.close();
    pki?.remove();
  });

  it('the allowed caller reaches the server over mTLS', async () => {
    await orders.callUntil('xds:///echo', (r) => r.ok && r.reply === 'echo-over-mtls');
  });

  it('a caller with another SPIFFE identity is denied by RBAC', async () => {
    const results = await intruder.callUntil('xds:///echo', (r) => !r.ok && r.code === grpc.status.PERMISSION_DENIED);
    expect(results.every((r) => !r.ok)).toBe(true);
  });

  it('every resource was ACKed by all three proxies', () => {
    for (const nodeId of Object.values(nodes)) {
      const proxy = h.server.proxies().find((p) => p.nodeId === nodeId);
      expect(proxy, nodeId).toBeDefined();
      for (const t of proxy?.types ?? []) {
        expect(t.lastNack, `${nodeId} ${t.typeUrl}`).toBeUndefined();
        expect(t.resources.every((r) => r.status === 'ACKED'), `${nodeId} ${t.typeUrl}`).toBe(true);
      }
    }
  });
});
