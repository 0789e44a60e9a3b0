import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { silentLogger } from '../../src/observability/logger.js';
import { CertificateAuthority, type CertificateAuthorityOptions } from '../../src/ca/authority.js';
import { createCaMaterial, type CaMaterial } from '../../src/ca/material.js';

export const TRUST_DOMAIN = 'mesh.test';

export async function newCa(
  now: number,
  overrides: Partial<CertificateAuthorityOptions> = {},
): Promise<{ ca: CertificateAuthority; material: CaMaterial }> {
  const material = overrides.material ?? (await createCaMaterial({ trustDomain: TRUST_DOMAIN, now }));
  const ca = new CertificateAuthority({ trustDomain: TRUST_DOMAIN, logger: silentLogger(), ...overrides, material });
  return { ca, material };
}

export async function tempDir(): Promise<{ dir: string; file: (name: string, content: string) => Promise<string>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'accord-ca-'));
  return {
    dir,
    file: async (name, content) => {
      const target = path.join(dir, name);
      await writeFile(target, content, { mode: 0o600 });
      return target;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export async function openssl(args: string[], input?: string): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    const child = execFile('openssl', args, (error, stdout, stderr) => {
      resolve({ stdout, stderr, code: error ? ((error as { code?: number }).code ?? 1) : 0 });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function spiffe(ns: string, sa: string): string {
  return `spiffe://${TRUST_DOMAIN}/ns/${ns}/sa/${sa}`;
}
