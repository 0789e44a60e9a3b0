import { readFileSync } from 'node:fs';

/** `fetch` as the CLI and the agent use it. */
export type Fetch = (url: string | URL, init?: RequestInit) => Promise<Response>;

/**
 * `fetch` that trusts the given CA bundle (PEM) for HTTPS, instead of the system's roots: Accord's
 * HTTP API may serve a certificate from the mesh CA (`serve --http-tls`). Without a bundle, the
 * global `fetch` (system roots, or `NODE_EXTRA_CA_CERTS`).
 */
export function trustingFetch(caBundlePem: string | undefined): Fetch {
  if (caBundlePem === undefined) return (url, init) => fetch(url, init);
  // Loaded on the first request that needs it: importing undici cost every CLI command (serve included) ≈ 0.2 s.
  let client: Promise<{ undiciFetch: typeof import('undici').fetch; dispatcher: import('undici').Agent }> | undefined;
  return async (url, init) => {
    client ??= import('undici').then(({ Agent, fetch: undiciFetch }) => ({ undiciFetch, dispatcher: new Agent({ connect: { ca: caBundlePem } }) }));
    const { undiciFetch, dispatcher } = await client;
    return undiciFetch(url, { ...(init as object), dispatcher }) as unknown as Promise<Response>;
  };
}

/** Reads a CA bundle file given with `--ca-file` / `ACCORD_CA_FILE`; a clear error if it cannot. */
export function readCaFile(file: string | undefined): string | undefined {
  if (file === undefined || file === '') return undefined;
  try {
    const pem = readFileSync(file, 'utf8');
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate in it');
    return pem;
  } catch (error) {
    throw new Error(`--ca-file ${file}: ${(error as Error).message}`, { cause: error });
  }
}
