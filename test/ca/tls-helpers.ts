import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';

export interface Identity {
  readonly certChainPem: string;
  readonly keyPem: string;
}

/**
 * A node:tls server requiring client certificates; answers each authorized connection with its own
 * leaf serial. Unauthorized peers are refused exactly as `rejectUnauthorized` would, but the
 * verification error code (CERT_HAS_EXPIRED, CERT_REVOKED, ...) is recorded in `clientErrors`.
 */
export async function startMtlsServer(options: { identity: Identity; caPem: string; crl?: string[] }): Promise<{
  server: tls.Server;
  port: number;
  clientErrors: string[];
  close: () => Promise<void>;
}> {
  const clientErrors: string[] = [];
  const server = tls.createServer(
    {
      cert: options.identity.certChainPem,
      key: options.identity.keyPem,
      ca: options.caPem,
      crl: options.crl,
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    (socket) => {
      socket.on('error', () => undefined);
      if (!socket.authorized) {
        clientErrors.push(String(socket.authorizationError));
        socket.destroy();
        return;
      }
      socket.end(`hello ${socket.getCertificate() && (socket.getCertificate() as tls.PeerCertificate).serialNumber}\n`);
    },
  );
  server.on('tlsClientError', (err) => clientErrors.push(err.message));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    port,
    clientErrors,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export type HandshakeResult = { ok: true; reply: string; serverSerial: string } | { ok: false; error: string };

/** Connects with a client certificate and checks the server's SPIFFE ID; resolves with what happened. */
export function connectMtls(options: {
  port: number;
  identity: Identity;
  caPem: string;
  expectServerId: string;
  crl?: string[];
}): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    let reply = '';
    let serverSerial = '';
    let settled = false;
    const finish = (result: HandshakeResult): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(result);
    };
    const socket = tls.connect({
      host: '127.0.0.1',
      port: options.port,
      cert: options.identity.certChainPem,
      key: options.identity.keyPem,
      ca: options.caPem,
      crl: options.crl,
      checkServerIdentity: (_host, cert) =>
        cert.subjectaltname === `URI:${options.expectServerId}`
          ? undefined
          : new Error(`server SPIFFE ID ${cert.subjectaltname} is not ${options.expectServerId}`),
    });
    socket.setTimeout(15_000, () => finish({ ok: false, error: 'timeout' }));
    socket.on('secureConnect', () => {
      serverSerial = socket.getPeerCertificate().serialNumber.toLowerCase();
    });
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString();
      if (reply.includes('\n')) finish({ ok: true, reply, serverSerial });
    });
    socket.on('end', () => finish(reply ? { ok: true, reply, serverSerial } : { ok: false, error: 'closed without reply' }));
    socket.on('error', (err) => finish({ ok: false, error: err.message }));
  });
}
