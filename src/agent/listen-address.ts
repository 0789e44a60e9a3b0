import { isIP } from 'node:net';
import path from 'node:path';

/** Where the agent's local xDS proxy listens. */
export type ListenAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

/** The socket the agent serves on when `--listen` is not given: beside the certificate files. */
export const DEFAULT_SOCKET_NAME = 'xds.sock';
/** sun_path holds 108 bytes on Linux, one for the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

/**
 * `--listen`: `unix:PATH` (the default, `unix:<out>/xds.sock`) or `HOST:PORT` on a loopback
 * address. Anything reachable from another host is refused: the proxy hands out the workload's
 * configuration and certificates to whoever connects.
 */
export function parseListenAddress(value: string | undefined, outDir: string): ListenAddress {
  if (value === undefined || value === '') return unixAddress(path.join(outDir, DEFAULT_SOCKET_NAME));
  if (value.startsWith('unix:')) {
    const socketPath = value.slice('unix:'.length).replace(/^\/\/(?=\/)/, '');
    if (!socketPath) throw new Error('--listen: unix: needs a path, e.g. unix:/run/accord/xds.sock');
    return unixAddress(socketPath);
  }
  const colon = value.lastIndexOf(':');
  const host = colon > 0 ? value.slice(0, colon).replace(/^\[(.*)\]$/, '$1') : '';
  const port = Number(value.slice(colon + 1));
  if (!host || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--listen: "${value}" is neither unix:PATH nor HOST:PORT`);
  }
  if (!isLoopback(host)) {
    throw new Error(`--listen: ${host} is not a loopback address; the local xDS proxy serves the workload's secrets and may only listen on unix:PATH or 127.0.0.1/::1`);
  }
  return { kind: 'tcp', host, port };
}

function unixAddress(socketPath: string): ListenAddress {
  const absolute = path.resolve(socketPath);
  if (Buffer.byteLength(absolute) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`--listen: the socket path ${absolute} is longer than ${MAX_SOCKET_PATH_BYTES} bytes; choose a shorter unix:PATH`);
  }
  return { kind: 'unix', path: absolute };
}

function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/** The address as a gRPC target / bind string (`unix:/abs/path` or `host:port`). */
export function grpcAddress(address: ListenAddress, port?: number): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${port ?? address.port}`;
}
