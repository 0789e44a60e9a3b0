import crypto from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { createIntermediateCa, createRootCa, type CaKeyPair } from './ca-certs.js';
import { splitCertificates } from './der.js';
import { open, seal, sealedWithPrevious, type Envelope, type Kek } from './envelope.js';
import type { CaKv } from './kv.js';

/**
 * Everything a CA replica signs with. Serialisable (JSON); contains private keys, so it is
 * written only to a 0600 file or, encrypted, to the shared store. Never log it.
 */
export interface CaMaterial {
  readonly version: 1;
  /** The trust anchor. `keyPem` is present when this CA may mint intermediates itself. */
  readonly root: { readonly certPem: string; readonly keyPem?: string };
  /** The certificate and key that sign leaves (an intermediate, or the root itself). */
  readonly issuer: CaKeyPair;
  /** Certificates from the issuer up to, not including, the root; issuer first. Empty if the root issues. */
  readonly chainPem: readonly string[];
  /** Base64 of the 32-byte HMAC key for workload tokens. */
  readonly tokenKey: string;
  /** The token key it replaced: still verifies the tokens it signed until `until` (ms since the epoch). */
  readonly previousTokenKey?: { readonly key: string; readonly until: number };
}

const materialSchema = z.object({
  version: z.literal(1),
  root: z.object({ certPem: z.string().min(1), keyPem: z.string().min(1).optional() }),
  issuer: z.object({ certPem: z.string().min(1), keyPem: z.string().min(1) }),
  chainPem: z.array(z.string().min(1)),
  tokenKey: z.string().min(1),
  previousTokenKey: z.object({ key: z.string().min(1), until: z.number().int().nonnegative() }).optional(),
});

export class CaMaterialError extends Error {
  readonly code = 'CA_MATERIAL_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CaMaterialError';
  }
}

export function parseCaMaterial(json: string, where: string): CaMaterial {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new CaMaterialError(`${where}: not valid JSON`);
  }
  const parsed = materialSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CaMaterialError(`${where}: field "${issue.path.join('.')}": ${issue.message}`);
  }
  return parsed.data;
}

export function serializeCaMaterial(material: CaMaterial): string {
  return JSON.stringify(material);
}

/** The default hierarchy: a new self-signed root (10 y) and an intermediate (1 y, pathLen 0) under it. */
export async function createCaMaterial(options: { trustDomain: string; now: number }): Promise<CaMaterial> {
  const root = await createRootCa({ trustDomain: options.trustDomain, now: options.now });
  const issuer = await createIntermediateCa({ trustDomain: options.trustDomain, now: options.now, parent: root });
  return {
    version: 1,
    root,
    issuer,
    chainPem: [issuer.certPem],
    tokenKey: crypto.randomBytes(32).toString('base64'),
  };
}

/** A replacement intermediate under the same root (requires the root key). */
export async function withNextIntermediate(
  material: CaMaterial,
  options: { trustDomain: string; now: number; ttlMs?: number },
): Promise<CaMaterial> {
  const rootKeyPem = material.root.keyPem;
  if (!rootKeyPem) throw new CaMaterialError('root.keyPem: the root key is not available, so no new intermediate can be signed');
  const issuer = await createIntermediateCa({
    trustDomain: options.trustDomain,
    now: options.now,
    ttlMs: options.ttlMs,
    parent: { certPem: material.root.certPem, keyPem: rootKeyPem },
  });
  return { ...material, issuer, chainPem: [issuer.certPem] };
}

export type CaSource =
  /** (1) The embedded default: generated once, kept at `<dataDir>/ca.json` (0600), reused on restart. */
  | { readonly kind: 'data-dir'; readonly dataDir: string }
  /**
   * (2) Operator files: a root (with its key, so an intermediate is generated), or a root plus an
   * intermediate and its key (the intermediate file may hold further chain certificates after it).
   */
  | {
      readonly kind: 'pem-files';
      readonly rootCertFile: string;
      readonly rootKeyFile?: string;
      readonly intermediateCertFile?: string;
      readonly intermediateKeyFile?: string;
    }
  /** (3) Shared: generated once by whichever replica gets there first, stored encrypted in the KV. */
  | { readonly kind: 'shared'; readonly kv: CaKv; readonly kek: Kek; readonly key?: string };

export const DEFAULT_SHARED_CA_KEY = 'accord/ca/material';
const DATA_DIR_FILE = 'ca.json';

export interface LoadCaOptions {
  readonly trustDomain: string;
  readonly now: number;
  readonly logger: Logger;
}

export async function loadOrCreateCaMaterial(source: CaSource, options: LoadCaOptions): Promise<CaMaterial> {
  switch (source.kind) {
    case 'data-dir':
      return loadOrCreateInDataDir(source.dataDir, options);
    case 'pem-files':
      return loadFromPemFiles(source, options);
    case 'shared':
      return (await loadOrCreateShared(source.kv, source.kek, source.key ?? DEFAULT_SHARED_CA_KEY, options)).material;
  }
}

async function loadOrCreateInDataDir(dataDir: string, options: LoadCaOptions): Promise<CaMaterial> {
  const file = path.join(dataDir, DATA_DIR_FILE);
  const existing = await readIfExists(file);
  if (existing !== undefined) {
    await tightenMode(file, options.logger);
    options.logger.info({ file }, 'CA material loaded from the data dir');
    return parseCaMaterial(existing, file);
  }
  await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const material = await createCaMaterial(options);
  // Write to a private temp file, then link: link fails if another process created ca.json first.
  const temp = path.join(dataDir, `.${DATA_DIR_FILE}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  await fs.writeFile(temp, serializeCaMaterial(material), { mode: 0o600, flag: 'wx' });
  try {
    await linkOrCreateExclusive(temp, file, material);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    options.logger.info({ file }, 'CA material created concurrently by another process; using theirs');
    return parseCaMaterial(await fs.readFile(file, 'utf8'), file);
  } finally {
    await fs.rm(temp, { force: true });
  }
  options.logger.info({ file }, 'CA material generated and saved to the data dir');
  return material;
}

/** Hard link where the filesystem supports it (readers never see a partial file); else exclusive create. */
async function linkOrCreateExclusive(temp: string, file: string, material: CaMaterial): Promise<void> {
  try {
    await fs.link(temp, file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw err;
    await fs.writeFile(file, serializeCaMaterial(material), { mode: 0o600, flag: 'wx' });
  }
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

async function tightenMode(file: string, logger: Logger): Promise<void> {
  const stat = await fs.stat(file);
  if ((stat.mode & 0o077) !== 0) {
    logger.warn({ file, mode: (stat.mode & 0o777).toString(8) }, 'CA material file was readable by others; set to 0600');
    await fs.chmod(file, 0o600);
  }
}

async function readPem(file: string, field: string): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new CaMaterialError(`${field} (${file}): ${(err as Error).message}`);
  }
}

function assertCa(certPem: string, field: string): crypto.X509Certificate {
  let cert: crypto.X509Certificate;
  try {
    cert = new crypto.X509Certificate(certPem);
  } catch {
    throw new CaMaterialError(`${field}: not a PEM certificate`);
  }
  if (!cert.ca) throw new CaMaterialError(`${field}: certificate is not a CA (basicConstraints CA:FALSE)`);
  return cert;
}

function assertKeyMatches(cert: crypto.X509Certificate, keyPem: string, field: string): void {
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(keyPem);
  } catch {
    throw new CaMaterialError(`${field}: not a PEM private key`);
  }
  if (!cert.checkPrivateKey(key)) throw new CaMaterialError(`${field}: key does not match its certificate`);
}

/** Operator files carry no token key; derive one from the operator's key so every replica agrees. */
function deriveTokenKey(keyPem: string): string {
  const der = crypto.createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' });
  return Buffer.from(crypto.hkdfSync('sha256', der, 'accord', 'accord workload token key v1', 32)).toString('base64');
}

async function loadFromPemFiles(
  source: Extract<CaSource, { kind: 'pem-files' }>,
  options: LoadCaOptions,
): Promise<CaMaterial> {
  const [rootCertPem] = splitCertificates(await readPem(source.rootCertFile, 'rootCertFile'));
  if (!rootCertPem) throw new CaMaterialError(`rootCertFile (${source.rootCertFile}): no PEM certificate`);
  const rootCert = assertCa(rootCertPem, 'rootCertFile');
  const rootKeyPem = source.rootKeyFile ? await readPem(source.rootKeyFile, 'rootKeyFile') : undefined;
  if (rootKeyPem) assertKeyMatches(rootCert, rootKeyPem, 'rootKeyFile');

  if (source.intermediateCertFile) {
    if (!source.intermediateKeyFile) throw new CaMaterialError('intermediateKeyFile: required with intermediateCertFile');
    const chain = splitCertificates(await readPem(source.intermediateCertFile, 'intermediateCertFile')).filter(
      (pem) => pem !== rootCertPem,
    );
    if (chain.length === 0) throw new CaMaterialError(`intermediateCertFile (${source.intermediateCertFile}): no PEM certificate`);
    const issuerCert = assertCa(chain[0], 'intermediateCertFile');
    const keyPem = await readPem(source.intermediateKeyFile, 'intermediateKeyFile');
    assertKeyMatches(issuerCert, keyPem, 'intermediateKeyFile');
    const top = new crypto.X509Certificate(chain[chain.length - 1]);
    if (!top.checkIssued(rootCert) || !top.verify(rootCert.publicKey)) {
      throw new CaMaterialError('intermediateCertFile: the chain does not lead to the certificate in rootCertFile');
    }
    options.logger.info({ rootCertFile: source.rootCertFile, intermediateCertFile: source.intermediateCertFile }, 'CA material loaded from operator files');
    return {
      version: 1,
      root: { certPem: rootCertPem, keyPem: rootKeyPem },
      issuer: { certPem: chain[0], keyPem },
      chainPem: chain,
      tokenKey: deriveTokenKey(keyPem),
    };
  }
  if (!rootKeyPem) throw new CaMaterialError('rootKeyFile: required when no intermediateCertFile is given');
  const issuer = await createIntermediateCa({
    trustDomain: options.trustDomain,
    now: options.now,
    parent: { certPem: rootCertPem, keyPem: rootKeyPem },
  });
  options.logger.info({ rootCertFile: source.rootCertFile }, 'CA material: operator root loaded, intermediate generated');
  return {
    version: 1,
    root: { certPem: rootCertPem, keyPem: rootKeyPem },
    issuer,
    chainPem: [issuer.certPem],
    tokenKey: deriveTokenKey(rootKeyPem),
  };
}

export interface SharedCaMaterial {
  readonly material: CaMaterial;
  /** The KV version it was read or written at (for a later compare-and-set). */
  readonly version: number;
  /** It was sealed with the previous KEK and has just been re-sealed with the current one. */
  readonly resealed?: boolean;
}

function parseEnvelope(json: string, key: string): Envelope {
  try {
    return JSON.parse(json) as Envelope;
  } catch {
    throw new CaMaterialError(`shared CA material at "${key}": not a JSON envelope`);
  }
}

/**
 * Reads and opens the material. Material sealed with the previous KEK is re-sealed with the current
 * one by compare-and-set: when replicas race, one write wins and the others re-read its result.
 */
export async function readSharedCaMaterial(kv: CaKv, kek: Kek, key: string): Promise<SharedCaMaterial | undefined> {
  for (let attempt = 0; ; attempt++) {
    const stored = await kv.kvGet(key);
    if (!stored) return undefined;
    const envelope = parseEnvelope(stored.value, key);
    const material = parseCaMaterial(open(kek, envelope, key), `shared CA material at "${key}"`);
    if (!sealedWithPrevious(kek, envelope) || attempt >= 3) return { material, version: stored.version };
    if (await kv.kvPutIfVersion(key, JSON.stringify(seal(kek, serializeCaMaterial(material), key)), stored.version)) {
      const written = await kv.kvGet(key);
      return { material, version: written?.version ?? stored.version + 1, resealed: true };
    }
  }
}

/**
 * Put-if-absent: every replica starting at once generates a candidate, exactly one write wins and
 * the others re-read the winner's material, so all of them sign with the same intermediate.
 */
export async function loadOrCreateShared(kv: CaKv, kek: Kek, key: string, options: LoadCaOptions): Promise<SharedCaMaterial> {
  const existing = await readSharedCaMaterial(kv, kek, key);
  if (existing) {
    if (existing.resealed) options.logger.warn({ kvKey: key, kekId: kek.id }, 'CA material was sealed with the previous KEK; re-sealed with the current one');
    options.logger.info({ kvKey: key }, 'CA material loaded from the shared store');
    return existing;
  }
  const candidate = await createCaMaterial(options);
  if (await kv.kvPutIfVersion(key, JSON.stringify(seal(kek, serializeCaMaterial(candidate), key)), undefined)) {
    options.logger.info({ kvKey: key }, 'CA material generated and saved to the shared store');
    const written = await kv.kvGet(key);
    return { material: candidate, version: written?.version ?? 1 };
  }
  const winner = await readSharedCaMaterial(kv, kek, key);
  if (!winner) throw new CaMaterialError(`shared CA material at "${key}": write lost a race but nothing is stored`);
  options.logger.info({ kvKey: key }, 'CA material created concurrently by another replica; using theirs');
  return winner;
}

/** Compare-and-set replacement (e.g. after intermediate renewal). Returns false if another replica wrote first. */
export async function replaceSharedCaMaterial(kv: CaKv, kek: Kek, key: string, material: CaMaterial, expectedVersion: number): Promise<boolean> {
  return kv.kvPutIfVersion(key, JSON.stringify(seal(kek, serializeCaMaterial(material), key)), expectedVersion);
}
