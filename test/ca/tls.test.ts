import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CertificateAuthority, IssuedLeaf } from '../../src/ca/authority.js';
import { newCa, spiffe, tempDir } from './helpers.js';
import { connectMtls, startMtlsServer } from './tls-helpers.js';

const HOUR = 3600_000;

describe('mutual TLS with issued certificates (node:tls and openssl)', () => {
  const now = Date.now();
  const serverId = spiffe('default', 'server');
  const clientId = spiffe('default', 'client');
  let ca: CertificateAuthority;
  let serverLeaf: IssuedLeaf;
  let server: Awaited<ReturnType<typeof startMtlsServer>>;
  let crlServer: Awaited<ReturnType<typeof startMtlsServer>>;
  let revokedClient: IssuedLeaf;
  let bundle: string;

  beforeAll(async () => {
    // The CA exists since three days ago, so expired leaves are still inside its validity.
    ({ ca } = await newCa(now - 72 * HOUR));
    bundle = ca.trustBundlePem();
    serverLeaf = ca.issue({ spiffeId: serverId, now });
    server = await startMtlsServer({ identity: serverLeaf, caPem: bundle });
    revokedClient = ca.issue({ spiffeId: spiffe('default', 'leaked'), now });
    ca.revokeSerial(revokedClient.serial, now);
    const crl = [(await ca.crlPem(now)).pem, (await ca.rootCrlPem(now))?.pem ?? ''];
    crlServer = await startMtlsServer({ identity: serverLeaf, caPem: bundle, crl });
  });
  afterAll(async () => {
    await server.close();
    await crlServer.close();
  });

  it('accepts a freshly issued pair, both ways', async () => {
    const client = ca.issue({ spiffeId: clientId, now });
    const result = await connectMtls({ port: server.port, identity: client, caPem: bundle, expectServerId: serverId });
    expect(result).toMatchObject({ ok: true, serverSerial: serverLeaf.serial });
  });

  it('accepts certificates with ±60 s clock skew (backdated notBefore)', async () => {
    const client = ca.issue({ spiffeId: clientId, now: now + 50_000 });
    expect(await connectMtls({ port: server.port, identity: client, caPem: bundle, expectServerId: serverId })).toMatchObject({ ok: true });
  });

  it('refuses an expired client certificate', async () => {
    const expired = ca.issue({ spiffeId: clientId, now: now - 48 * HOUR, ttlMs: HOUR });
    const result = await connectMtls({ port: server.port, identity: expired, caPem: bundle, expectServerId: serverId });
    expect(result.ok).toBe(false);
    expect(server.clientErrors.join('\n')).toContain('CERT_HAS_EXPIRED');
  });

  it('refuses a not-yet-valid client certificate', async () => {
    const future = ca.issue({ spiffeId: clientId, now: now + 2 * HOUR });
    const result = await connectMtls({ port: server.port, identity: future, caPem: bundle, expectServerId: serverId });
    expect(result.ok).toBe(false);
    expect(server.clientErrors.join('\n')).toContain('CERT_NOT_YET_VALID');
  });

  it('refuses a client certificate from another CA, and a server from another CA', async () => {
    const { ca: stranger } = await newCa(now);
    const foreign = stranger.issue({ spiffeId: clientId, now });
    expect((await connectMtls({ port: server.port, identity: foreign, caPem: bundle, expectServerId: serverId })).ok).toBe(false);
    const client = ca.issue({ spiffeId: clientId, now });
    const wrongTrust = await connectMtls({ port: server.port, identity: client, caPem: stranger.trustBundlePem(), expectServerId: serverId });
    expect(wrongTrust).toMatchObject({ ok: false });
    expect(wrongTrust.ok ? '' : wrongTrust.error).toMatch(/certificate/i);
  });

  it('refuses a server whose SPIFFE ID is not the expected one', async () => {
    const client = ca.issue({ spiffeId: clientId, now });
    const result = await connectMtls({ port: server.port, identity: client, caPem: bundle, expectServerId: spiffe('default', 'payments') });
    expect(result).toMatchObject({ ok: false });
    expect(result.ok ? '' : result.error).toMatch(/is not spiffe:\/\/mesh.test\/ns\/default\/sa\/payments/);
  });

  it('refuses a revoked certificate via the CRL, still accepts others', async () => {
    const refused = await connectMtls({ port: crlServer.port, identity: revokedClient, caPem: bundle, expectServerId: serverId });
    expect(refused.ok).toBe(false);
    expect(crlServer.clientErrors.join('\n')).toContain('CERT_REVOKED');
    const client = ca.issue({ spiffeId: clientId, now });
    expect(await connectMtls({ port: crlServer.port, identity: client, caPem: bundle, expectServerId: serverId })).toMatchObject({ ok: true });
  });

  it('openssl s_client completes mutual TLS and verifies the chain', async () => {
    const tmp = await tempDir();
    try {
      const client = ca.issue({ spiffeId: clientId, now });
      const args = [
        's_client',
        '-connect', `127.0.0.1:${server.port}`,
        '-CAfile', await tmp.file('ca.pem', bundle),
        '-cert', await tmp.file('cert.pem', client.certChainPem),
        '-cert_chain', await tmp.file('chain.pem', client.certChainPem),
        '-key', await tmp.file('key.pem', client.keyPem),
        '-verify_return_error',
        '-ign_eof',
      ];
      const output = await new Promise<string>((resolve) => {
        const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('close', () => resolve(text));
        child.stdin.end();
      });
      expect(output).toContain('Verify return code: 0 (ok)');
      expect(output).toContain(`hello ${serverLeaf.serial.toUpperCase()}`.slice(0, 6));
      expect(output).toMatch(/hello [0-9A-F]+/);
    } finally {
      await tmp.cleanup();
    }
  });

  it('openssl s_server requiring a client certificate accepts a node:tls client with issued certs', async () => {
    const tmp = await tempDir();
    const free = net.createServer().listen(0, '127.0.0.1');
    await once(free, 'listening');
    const port = (free.address() as net.AddressInfo).port;
    await new Promise((resolve) => free.close(resolve));
    const child = spawn('openssl', [
      's_server',
      '-accept', `127.0.0.1:${port}`,
      '-cert', await tmp.file('s-cert.pem', serverLeaf.certChainPem),
      '-cert_chain', await tmp.file('s-chain.pem', serverLeaf.certChainPem),
      '-key', await tmp.file('s-key.pem', serverLeaf.keyPem),
      '-CAfile', await tmp.file('s-ca.pem', bundle),
      '-Verify', '2',
      '-verify_return_error',
      '-rev',
    ]);
    let serverOutput = '';
    child.stdout.on('data', (d: Buffer) => (serverOutput += d.toString()));
    child.stderr.on('data', (d: Buffer) => (serverOutput += d.toString()));
    try {
      for (let i = 0; i < 500 && !serverOutput.includes('ACCEPT'); i++) await new Promise((r) => setTimeout(r, 20));
      const client = ca.issue({ spiffeId: clientId, now });
      const reply = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({
          host: '127.0.0.1',
          port,
          cert: client.certChainPem,
          key: client.keyPem,
          ca: bundle,
          checkServerIdentity: (_h, cert) => (cert.subjectaltname === `URI:${serverId}` ? undefined : new Error('wrong server')),
        });
        let text = '';
        socket.on('secureConnect', () => socket.write('spiffe\n'));
        socket.on('data', (d: Buffer) => {
          text += d.toString();
          if (text.includes('effips')) {
            socket.destroy();
            resolve(text);
          }
        });
        socket.on('error', reject);
        socket.setTimeout(15_000, () => reject(new Error(`timeout; server said: ${serverOutput}`)));
      });
      expect(reply).toContain('effips');
    } finally {
      child.kill();
      await tmp.cleanup();
    }
  });
});
