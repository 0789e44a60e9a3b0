import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { trustingFetch, type Fetch } from '../net/trusting-fetch.js';

export interface AgentCertificate {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly caBundlePem: string;
  readonly serial: string;
  readonly spiffeId: string;
  readonly notAfter: number;
  readonly rotateAt: number;
  /** The workload as registered (for the gRPC bootstrap). */
  readonly workload: Record<string, unknown> | undefined;
}

export class AgentHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** From `Retry-After` on a 429: when the server will issue again. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'AgentHttpError';
  }
}

/** The control plane could not be reached at all (connection refused, DNS, timeout). */
export class AgentUnreachableError extends Error {
  constructor(
    readonly server: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
    super(`cannot reach the control plane at ${server}: ${reason}`, { cause });
    this.name = 'AgentUnreachableError';
  }
}

/** One sentence an operator can act on, for the agent's log and status. */
export function describeAgentFailure(error: unknown): string {
  if (error instanceof AgentUnreachableError) return error.message;
  if (error instanceof AgentHttpError) {
    if (error.status === 401) return `the workload token was refused (401): ${error.message}; register the workload again for a new token`;
    if (error.status === 403) return `the control plane refused this workload (403): ${error.message}`;
    if (error.status === 404) return `the control plane does not know this workload (404): ${error.message}; was it deregistered?`;
    if (error.status === 400) return `the control plane refused the request (400): ${error.message}`;
    return `the control plane answered ${error.status}: ${error.message}`;
  }
  return error instanceof Error ? error.message : String(error);
}

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

function toPem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/**
 * Gets the workload's certificate by CSR: the key is generated here and never leaves the agent.
 * The server decides the identity from the workload token, not from the CSR.
 */
export class CertificateClient {
  private current = 0;
  private readonly fetch: Fetch;

  /**
   * `servers`: the control plane's HTTP API, one or more replicas; tried in order, failing over.
   * `token` is read on every request (the agent renews it); `caBundlePem` is trusted for HTTPS.
   */
  constructor(
    private readonly servers: readonly string[],
    private readonly token: () => string,
    caBundlePem?: string,
  ) {
    if (servers.length === 0) throw new Error('--server needs at least one URL');
    this.fetch = trustingFetch(caBundlePem);
  }

  /** Runs `request` against the current replica, moving on to the next on network errors and 5xx. */
  private async withFailover<T>(request: (server: string) => Promise<T>): Promise<T> {
    let lastError: unknown;
    for (let tried = 0; tried < this.servers.length; tried += 1) {
      const server = this.servers[this.current] as string;
      try {
        return await request(server).catch((error: unknown) => {
          throw error instanceof AgentHttpError ? error : new AgentUnreachableError(server, error);
        });
      } catch (error) {
        lastError = error;
        if (error instanceof AgentHttpError && error.status < 500) throw error;
        this.current = (this.current + 1) % this.servers.length;
      }
    }
    throw lastError;
  }

  async fetchCertificate(): Promise<AgentCertificate> {
    const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=accord-agent',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    const keyPem = toPem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const body = (await this.post('/v1/agent/certificate', { csr: csr.toString('pem') })) as {
      certChainPem: string;
      caBundlePem: string;
      serial: string;
      spiffeId: string;
      notAfter: string;
      rotateAt: string;
      workload?: Record<string, unknown>;
    };
    return {
      certChainPem: body.certChainPem,
      keyPem,
      caBundlePem: body.caBundlePem,
      serial: body.serial,
      spiffeId: body.spiffeId,
      notAfter: Date.parse(body.notAfter),
      rotateAt: Date.parse(body.rotateAt),
      workload: body.workload,
    };
  }

  /** This workload's trust bundle, and whether the server wants a new CSR now (root rotation). */
  async fetchBundle(): Promise<{ caBundlePem: string; reissue: boolean }> {
    return this.withFailover(async (server) => {
      const response = await this.fetch(new URL('/v1/agent/bundle', server), {
        headers: { authorization: `Bearer ${this.token()}` },
        signal: AbortSignal.timeout(5_000),
      });
      if (!response.ok) throw new AgentHttpError(response.status, await errorMessage(response, 'GET /v1/agent/bundle'));
      return (await response.json()) as { caBundlePem: string; reissue: boolean };
    });
  }

  /** A new workload token (the current one stays valid until it expires). */
  async renewToken(): Promise<{ token: string; tokenId: string; expiresAt: string }> {
    return (await this.post('/v1/agent/token', {})) as { token: string; tokenId: string; expiresAt: string };
  }

  /** Registers this workload again with its token (the control plane said it does not know it). */
  async reregister(registration: Record<string, unknown>): Promise<{ id: string; spiffeId: string; created: boolean }> {
    return (await this.post('/v1/agent/register', registration)) as { id: string; spiffeId: string; created: boolean };
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    return this.withFailover((server) => this.postTo(server, path, body));
  }

  private async postTo(server: string, path: string, body: unknown): Promise<unknown> {
    const response = await this.fetch(new URL(path, server), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token()}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(5_000),
    });
    if (!response.ok) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new AgentHttpError(response.status, await errorMessage(response, `POST ${path}`), Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    }
    return JSON.parse(await response.text());
  }
}

/** The API's `{error: {code, message}}` as one line (bounded: it ends up in logs). */
async function errorMessage(response: Response, what: string): Promise<string> {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
    if (parsed.error?.message) return `${parsed.error.code}: ${parsed.error.message.slice(0, 300)}`;
  } catch {
    // not JSON: the status line says enough
  }
  return `${what}: HTTP ${response.status}`;
}
