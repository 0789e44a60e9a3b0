import { connect } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryService } from '../../src/api/grpc-registry.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

/** A TLS handshake with the xDS port (ALPN h2, as gRPC does); resolves with the server's SAN. */
function handshake(port: number, ca: string): Promise<{ ok: true; san: string } | { ok: false; error: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, ca, ALPNProtocols: ['h2'], checkServerIdentity: () => undefined }, () => {
      resolve({ ok: true, san: socket.getPeerCertificate().subjectaltname ?? '' });
      socket.end();
    });
    socket.on('error', (error) => resolve({ ok: false, error: error.message }));
  });
}

describe('xDS port over TLS with a certificate from the mesh CA', () => {
  let accord: TestAccord;
  beforeAll(async () => {
    accord = await startTestAccord({ xdsTls: true });
  });
  afterAll(async () => {
    await accord.close();
  });

  it('serves gRPC over TLS with the control plane\'s SPIFFE identity, and follows a root rotation', async () => {
    const oldBundle = (await api(accord, 'GET', '/v1/ca/bundle')).text;
    const first = await handshake(accord.handle.xdsPort, oldBundle);
    expect(first, JSON.stringify(first)).toMatchObject({ ok: true });
    expect(first.ok && first.san).toContain('URI:spiffe://mesh.local/ns/accord-system/sa/accord');

    const Registry = grpc.makeGenericClientConstructor(loadRegistryService(), 'Registry');
    const client = new Registry(accord.xds, grpc.credentials.createSsl(Buffer.from(oldBundle), null, null, { checkServerIdentity: () => undefined }));
    const operator = new grpc.Metadata();
    operator.set('authorization', `Bearer ${accord.token}`);
    const listed = await new Promise<unknown>((resolve, reject) =>
      (client as unknown as { ListWorkloads: (req: object, md: grpc.Metadata, cb: (e: Error | null, r: unknown) => void) => void }).ListWorkloads({}, operator, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    expect(listed).toHaveProperty('workloads');
    client.close();

    expect((await api(accord, 'POST', '/v1/ca/rotate', { body: {} })).status).toBe(200);
    const deadline = Date.now() + 30_000;
    let phase = '';
    while (phase !== 'P4_RETIRED' && Date.now() < deadline) {
      phase = ((await api(accord, 'GET', '/v1/ca')).body as { rootRotation: { phase: string } }).rootRotation.phase;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(phase).toBe('P4_RETIRED');
    const newBundle = (await api(accord, 'GET', '/v1/ca/bundle')).text;
    expect(newBundle).not.toBe(oldBundle);
    expect(await handshake(accord.handle.xdsPort, newBundle)).toMatchObject({ ok: true });
    expect(await handshake(accord.handle.xdsPort, oldBundle)).toMatchObject({ ok: false });
  });
});
