import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryService } from '../../src/api/grpc-registry.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

type Unary = (request: object, metadata: grpc.Metadata, callback: (error: grpc.ServiceError | null, response: Record<string, unknown>) => void) => void;

describe('accord.v1.Registry over gRPC on the xDS port', () => {
  let accord: TestAccord;
  let client: grpc.Client & Record<string, Unary>;
  const call = (method: string, request: object, token: string | null = accord.token): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const metadata = new grpc.Metadata();
      if (token) metadata.set('authorization', `Bearer ${token}`);
      (client[method] as Unary)(request, metadata, (error, response) => (error ? reject(error) : resolve(response)));
    });

  beforeAll(async () => {
    accord = await startTestAccord();
    const Registry = grpc.makeGenericClientConstructor(loadRegistryService(), 'Registry');
    client = new Registry(accord.xds, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Unary>;
  });
  afterAll(async () => {
    client.close();
    await accord.close();
  });

  it('registers, lists, heartbeats and deregisters, like the HTTP API', async () => {
    const registered = await call('Register', { service: 'orders', address: '10.0.0.3', port: 8080, ttl: '30s', labels: { version: 'v2' }, upstreams: [{ service: 'payments', local_port: 9001 }] });
    expect(registered.id).toMatch(/^orders-/);
    expect(registered.spiffe_id).toBe('spiffe://mesh.local/ns/default/sa/orders');
    const listed = await call('ListWorkloads', {});
    const workload = (listed.workloads as Record<string, unknown>[]).find((w) => w.id === registered.id);
    expect(workload).toMatchObject({ service: 'orders', labels: { version: 'v2' }, upstreams: [{ service: 'payments', namespace: 'default', local_port: 9001 }] });
    expect(((await api(accord, 'GET', '/v1/workloads')).body as { workloads: { id: string }[] }).workloads.map((w) => w.id)).toContain(registered.id);
    await call('Heartbeat', { id: registered.id });
    await call('Deregister', { id: registered.id });
    await expect(call('Deregister', { id: registered.id })).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  it('maps errors to gRPC status codes: no token, wrong token, bad input', async () => {
    await expect(call('Register', { service: 'x', address: '10.0.0.1', port: 80 }, null)).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    await expect(call('Register', { service: 'x', address: '10.0.0.1', port: 80 }, 'wrong')).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    const invalid = call('Register', { service: 'Bad_Name', address: 'not an address', port: 70000 });
    await expect(invalid).rejects.toMatchObject({ code: grpc.status.INVALID_ARGUMENT });
    await invalid.catch((error: grpc.ServiceError) => {
      for (const field of ['service', 'address', 'port']) expect(error.details).toContain(`"field":"${field}"`);
    });
  });

  it('every method, reads included, needs the operator token; a workload token is not one (issue #9 item 11, gRPC half)', async () => {
    const workload = (await call('Register', { service: 'reader', address: '10.0.0.9', port: 80 })) as { token: string; id: string };
    for (const [method, request] of [
      ['ListWorkloads', {}],
      ['ListServices', {}],
      ['Register', { service: 'x', address: '10.0.0.1', port: 80 }],
      ['Heartbeat', { id: workload.id }],
      ['Deregister', { id: workload.id }],
    ] as const) {
      await expect(call(method, request, null), `${method} without a token`).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      await expect(call(method, request, 'wrong'), `${method} with a wrong token`).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
      await expect(call(method, request, workload.token), `${method} with a workload token`).rejects.toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    }
    expect(accord.logs.some((line) => line.includes('registry call denied') && line.includes('"method":"ListWorkloads"'))).toBe(true);
    await call('Deregister', { id: workload.id });
  });
});
