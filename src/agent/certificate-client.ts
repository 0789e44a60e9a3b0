import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

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
  ) {
    super(message);
    this.name = 'AgentHttpError';
  }
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
  constructor(
    private readonly server: string,
    private readonly token: string,
  ) {}

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

  async fetchBundle(): Promise<string> {
    const response = await fetch(new URL('/v1/ca/bundle', this.server), { signal: AbortSignal.timeout(10_000) });
    if (!response.ok) throw new AgentHttpError(response.status, `GET /v1/ca/bundle: HTTP ${response.status}`);
    return response.text();
  }

  private async post(path: string, body: unknown): Promise<unknown> {
    const response = await fetch(new URL(path, this.server), {
      method: 'POST',
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await response.text();
    if (!response.ok) {
      let message = `POST ${path}: HTTP ${response.status}`;
      try {
        const parsed = JSON.parse(text) as { error?: { code?: string; message?: string } };
        if (parsed.error?.message) message = `${parsed.error.code}: ${parsed.error.message}`;
      } catch {
        // keep the status line
      }
      throw new AgentHttpError(response.status, message);
    }
    return JSON.parse(text);
  }
}
