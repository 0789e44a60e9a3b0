/**
 * The agent's own status endpoint: `GET /healthz` (200 while it holds a certificate that has not
 * expired, else 503 with the reason) and `GET /status` (JSON: certificate, last failure, retries,
 * xDS upstream). Loopback or a unix socket only: it is unauthenticated, and shows no secrets.
 */
import { mkdir, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export interface AgentHealth {
  readonly healthy: boolean;
  readonly reason: string;
}

export interface StatusSource {
  health(): AgentHealth;
  status(): unknown;
}

export type StatusAddress = { readonly kind: 'unix'; readonly path: string } | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** `unix:/run/agent.sock`, `127.0.0.1:15011`, `[::1]:15011` or `localhost:15011`. */
export function parseStatusAddress(text: string): StatusAddress {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (path === '') throw new Error('--status unix: needs a socket path');
    // Linux's sun_path holds 107 bytes.
    if (Buffer.byteLength(path) > 107) throw new Error(`--status socket path is too long for a unix socket (${Buffer.byteLength(path)} bytes, at most 107): ${path}`);
    return { kind: 'unix', path };
  }
  const match = /^(\[[0-9a-f:]+\]|[^:]+):(\d{1,5})$/i.exec(text);
  const port = Number(match?.[2]);
  if (!match || !Number.isInteger(port) || port > 65535) throw new Error(`--status must be unix:PATH or HOST:PORT, got "${text}"`);
  const host = (match[1] as string).replace(/^\[|\]$/g, '');
  if (!isLoopback(host)) throw new Error(`--status must be a loopback address or a unix socket (it is not authenticated), got "${text}"`);
  return { kind: 'tcp', host, port };
}

export class AgentStatusServer {
  private readonly server: Server;
  private boundPath: string | undefined;

  constructor(private readonly source: StatusSource) {
    this.server = createServer((request, response) => this.handle(request, response));
  }

  /** Listens; returns where (`unix:PATH` or `host:port` with the bound port). */
  async listen(address: StatusAddress): Promise<string> {
    if (address.kind === 'unix') {
      await mkdir(dirname(address.path), { recursive: true, mode: 0o700 });
      // A socket left by an agent that died: nothing listens on it any more.
      await rm(address.path, { force: true });
      await new Promise<void>((resolve, reject) => {
        this.server.once('error', reject);
        this.server.listen(address.path, () => resolve());
      });
      this.boundPath = address.path;
      return `unix:${address.path}`;
    }
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(address.port, address.host, () => resolve());
    });
    const bound = this.server.address();
    const port = typeof bound === 'object' && bound ? bound.port : address.port;
    return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${port}`;
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (this.boundPath) await rm(this.boundPath, { force: true });
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const send = (status: number, body: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(`${JSON.stringify(body)}\n`);
    };
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET') return send(405, { error: { code: 'METHOD_NOT_ALLOWED', message: 'only GET' } });
    if (path === '/healthz') {
      const health = this.source.health();
      return send(health.healthy ? 200 : 503, { status: health.healthy ? 'ok' : 'failing', reason: health.reason });
    }
    if (path === '/status') return send(200, this.source.status());
    return send(404, { error: { code: 'NOT_FOUND', message: `no route ${path}; try /healthz or /status` } });
  }
}
