/**
 * The demo's applications: tiny HTTP servers on loopback, each behind its own sidecar. `payments` answers with who called it
 * (the SPIFFE ID its sidecar forwards, when it does); every caller app answers `GET /pay` by
 * calling payments through its own sidecar's outbound listener and relaying the status and body,
 * so a denial by payments' sidecar (403) shows up as the caller's answer.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';

export interface DemoApp {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Bounded: a demo app never buffers more than this of a relayed answer. */
const MAX_RELAYED_BYTES = 64 * 1024;
const CALL_TIMEOUT_MS = 10_000;

function listen(server: Server, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      const bound = server.address();
      resolve(typeof bound === 'object' && bound ? bound.port : port);
    });
  });
}

function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

/** The caller's SPIFFE ID from `x-forwarded-client-cert` (`…;URI=spiffe://…`), if the sidecar set it. */
export function callerFromXfcc(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.at(-1) : header;
  return value ? /(?:^|[;,])URI=([^;,]+)/.exec(value)?.[1] : undefined;
}

export async function startPaymentsApp(address: string, port = 0): Promise<DemoApp> {
  const server = createServer((req, res) => {
    const caller = callerFromXfcc(req.headers['x-forwarded-client-cert']) ?? 'unknown';
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from payments; caller: ${caller}\n`);
  });
  const bound = await listen(server, address, port);
  return { name: 'payments', address, port: bound, close: closer(server) };
}

/** A caller app; `GET /pay` calls payments through `outbound` (its sidecar's local listener). */
export async function startCallerApp(name: string, address: string, outbound: { host: string; port: number }, port = 0): Promise<DemoApp> {
  const server = createServer((req, res) => {
    if (req.url !== '/pay') {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end(`this is ${name}; GET /pay calls payments through ${name}'s Envoy sidecar\n`);
      return;
    }
    const upstream = httpRequest({ host: outbound.host, port: outbound.port, path: '/', method: 'GET', timeout: CALL_TIMEOUT_MS }, (answer) => {
      const chunks: Buffer[] = [];
      let size = 0;
      answer.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_RELAYED_BYTES) chunks.push(chunk);
      });
      answer.on('end', () => {
        res.writeHead(answer.statusCode ?? 502, { 'content-type': 'text/plain' });
        const body = Buffer.concat(chunks).toString('utf8');
        res.end(`${name} -> payments: HTTP ${answer.statusCode}: ${body}${body.endsWith('\n') ? '' : '\n'}`);
      });
    });
    upstream.on('timeout', () => upstream.destroy(new Error(`no answer within ${CALL_TIMEOUT_MS} ms`)));
    upstream.on('error', (error) => {
      if (res.headersSent) return;
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`${name} -> payments failed: ${error.message}\n`);
    });
    upstream.end();
  });
  const bound = await listen(server, address, port);
  return { name, address, port: bound, close: closer(server) };
}
