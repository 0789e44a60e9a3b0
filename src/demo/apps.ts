/**
 * The demo's applications: tiny HTTP servers on loopback, each behind its own sidecar. `payments` answers with who called it
 * (the SPIFFE ID its sidecar forwards, when it does); every caller app answers `GET /pay` by
 * calling payments through its own sidecar's outbound listener and relaying the status and body,
 * so a denial by payments' sidecar (403) shows up as the caller's answer. Any other path of a
 * caller app is a small HTML page saying who called it (the page the demo's gateway URL shows).
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

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The page a person opens: who called (from the sidecar's `x-forwarded-client-cert`), and whether
 * that was the ingress gateway. Without the header the app was called directly, not through the mesh.
 */
export function callerPage(name: string, caller: string | undefined, gatewayIdentity: string | undefined): string {
  const how =
    caller === undefined
      ? `<p>${escapeHtml(name)} was called directly, not through its Envoy sidecar: there is no mesh caller.</p>`
      : caller === gatewayIdentity
        ? `<p>You reached <b>${escapeHtml(name)}</b> through the Accord ingress gateway: HTTPS from your browser to the gateway's Envoy, ` +
          `then mesh mTLS from the gateway to the Envoy sidecar of ${escapeHtml(name)}.</p>`
        : `<p>${escapeHtml(name)} was called over mesh mTLS.</p>`;
  return [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>Accord demo: ${escapeHtml(name)}</title></head><body>`,
    `<h1>Accord demo: ${escapeHtml(name)}</h1>`,
    how,
    `<p>Caller identity (from x-forwarded-client-cert): <code>${escapeHtml(caller ?? 'none')}</code></p>`,
    `<p><a href="/pay">/pay</a>: ${escapeHtml(name)} calls payments through its own sidecar.</p>`,
    '</body></html>',
    '',
  ].join('\n');
}

/**
 * A caller app; `GET /pay` calls payments through `outbound` (its sidecar's local listener),
 * every other path answers the HTML page of `callerPage`.
 */
export async function startCallerApp(
  name: string,
  address: string,
  outbound: { host: string; port: number },
  options: { readonly port?: number; readonly gatewayIdentity?: string } = {},
): Promise<DemoApp> {
  const server = createServer((req, res) => {
    if (req.url !== '/pay') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(callerPage(name, callerFromXfcc(req.headers['x-forwarded-client-cert']), options.gatewayIdentity));
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
  const bound = await listen(server, address, options.port ?? 0);
  return { name, address, port: bound, close: closer(server) };
}
