import { once } from 'node:events';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority } from '../../src/ca/authority.js';
import { newCa, spiffe } from './helpers.js';
import { connectMtls, startMtlsServer } from './tls-helpers.js';

describe('leaf rotation on a live server', () => {
  const now = Date.now();
  const serverId = spiffe('default', 'server');
  let ca: CertificateAuthority;
  let server: Awaited<ReturnType<typeof startMtlsServer>>;

  beforeAll(async () => {
    ({ ca } = await newCa(now));
  });
  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await server?.close();
  });
  const sockets: tls.TLSSocket[] = [];

  it('keeps a long-lived connection open across 5 rotations while new handshakes see each new serial', async () => {
    const bundle = ca.trustBundlePem();
    const first = ca.issue({ spiffeId: serverId, now });
    server = await startMtlsServer({ identity: first, caPem: bundle });
    // A long-lived client: an echo over one connection, opened before the first rotation.
    server.server.removeAllListeners('secureConnection');
    server.server.on('secureConnection', (socket: tls.TLSSocket) => {
      sockets.push(socket);
      socket.on('error', () => undefined);
      if (!socket.authorized) {
        server.clientErrors.push(String(socket.authorizationError));
        socket.destroy();
        return;
      }
      socket.write(`hello ${(socket.getCertificate() as tls.PeerCertificate).serialNumber}\n`);
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    });
    const client = ca.issue({ spiffeId: spiffe('default', 'client'), now });
    const longLived = tls.connect({
      host: '127.0.0.1',
      port: server.port,
      cert: client.certChainPem,
      key: client.keyPem,
      ca: bundle,
      checkServerIdentity: (_h, cert) => (cert.subjectaltname === `URI:${serverId}` ? undefined : new Error('wrong server')),
    });
    sockets.push(longLived);
    await once(longLived, 'secureConnect');
    const originalSerial = longLived.getPeerCertificate().serialNumber.toLowerCase();
    expect(originalSerial).toBe(first.serial);
    let echoed = '';
    longLived.on('data', (chunk: Buffer) => (echoed += chunk.toString()));
    let closed = false;
    longLived.on('close', () => (closed = true));

    const seen: string[] = [];
    for (let rotation = 1; rotation <= 5; rotation++) {
      const next = ca.issue({ spiffeId: serverId, now: Date.now() });
      server.server.setSecureContext({ cert: next.certChainPem, key: next.keyPem, ca: bundle, minVersion: 'TLSv1.2' });
      const fresh = await connectMtls({ port: server.port, identity: ca.issue({ spiffeId: spiffe('default', 'client'), now }), caPem: bundle, expectServerId: serverId });
      expect(fresh).toMatchObject({ ok: true, serverSerial: next.serial });
      seen.push(next.serial);
      longLived.write(`ping ${rotation}\n`);
      const expected = `ping ${rotation}\n`;
      for (let i = 0; i < 1500 && !echoed.includes(expected); i++) await new Promise((r) => setTimeout(r, 10));
      expect(echoed).toContain(expected);
      expect(closed).toBe(false);
    }
    expect(new Set(seen).size).toBe(5);
    expect(server.clientErrors).toEqual([]);
    // The old connection still runs on the original certificate.
    expect(longLived.getPeerCertificate().serialNumber.toLowerCase()).toBe(originalSerial);
    longLived.destroy();
  }, 90_000);
});
