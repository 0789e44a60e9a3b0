import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import type { ServeOptions } from './options.js';

/** Operator-supplied TLS material for one port (PEM). `keyPem` must never be logged. */
export interface TlsFiles {
  readonly certChainPem: string;
  readonly keyPem: string;
}

export function isLoopback(host: string): boolean {
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

export function xdsHasTls(options: ServeOptions): boolean {
  return options.xdsTls || options.xdsTlsCertFile !== undefined;
}

export function httpHasTls(options: ServeOptions): boolean {
  return options.httpTls || options.httpTlsCertFile !== undefined;
}

/**
 * Whether `serve` may start with these settings, and what it must warn about on every start.
 * The xDS port carries private keys and workload tokens: bound to anything but loopback it needs
 * TLS, unless the operator says `--insecure` (docs/security.md).
 */
export function exposureCheck(options: ServeOptions): { readonly refusal?: string; readonly warnings: readonly string[] } {
  const warnings: string[] = [];
  const exposed = !isLoopback(options.host);
  if (options.xdsTls && options.xdsTlsCertFile) {
    return { refusal: '--xds-tls and --xds-tls-cert are alternatives: give one', warnings };
  }
  if (options.httpTls && options.httpTlsCertFile) {
    return { refusal: '--http-tls and --http-tls-cert are alternatives: give one', warnings };
  }
  if ((options.xdsTlsCertFile === undefined) !== (options.xdsTlsKeyFile === undefined)) {
    return { refusal: '--xds-tls-cert and --xds-tls-key go together', warnings };
  }
  if ((options.httpTlsCertFile === undefined) !== (options.httpTlsKeyFile === undefined)) {
    return { refusal: '--http-tls-cert and --http-tls-key go together', warnings };
  }
  if (exposed && !xdsHasTls(options)) {
    if (!options.insecure) {
      return {
        refusal:
          `refusing to serve xDS on ${options.host} without TLS: the xDS port carries private keys and workload tokens. ` +
          'Use --xds-tls (a certificate from the mesh CA) or --xds-tls-cert/--xds-tls-key, bind 127.0.0.1, or pass --insecure to accept clear text (not for production)',
        warnings,
      };
    }
    warnings.push(`--insecure: xDS on ${options.host} is served WITHOUT TLS; private keys and workload tokens cross the network in clear text`);
  } else if (options.insecure) {
    warnings.push('--insecure given, but nothing needs it here (loopback or TLS): it has no effect');
  }
  if (exposed && !httpHasTls(options)) {
    warnings.push(`the HTTP API on ${options.host} is served without TLS: operator and workload tokens cross the network in clear text; use --http-tls or --http-tls-cert/--http-tls-key`);
  }
  return { warnings };
}

export async function readTlsFiles(certFile: string, keyFile: string, flag: string): Promise<TlsFiles> {
  const read = async (file: string, what: string): Promise<string> => {
    try {
      return await readFile(file, 'utf8');
    } catch (error) {
      throw new Error(`${flag}: cannot read the ${what} ${file}: ${(error as Error).message}`, { cause: error });
    }
  };
  return { certChainPem: await read(certFile, 'certificate'), keyPem: await read(keyFile, 'private key') };
}
