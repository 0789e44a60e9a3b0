import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import {
  fingerprintOfPem,
  loadOrCreateShared,
  readSharedCaMaterial,
  type CaKv,
  type CaMaterial,
  type Kek,
} from '../ca/index.js';
import { open, seal, type Envelope } from '../ca/envelope.js';
import { parseCaMaterial, serializeCaMaterial } from '../ca/material.js';

/**
 * Keeping the mesh's identity when Redis loses the CA material: a sealed backup file, and a marker
 * in each replica's data dir naming the root it served, so an empty store is not mistaken for a
 * new mesh (docs/decisions/0020-redis-loss-keeps-the-root.md).
 */

const MARKER_FILE = 'ca-root.json';
const BACKUP_CONTEXT = 'accord-ca-backup';
const MAX_BACKUP_BYTES = 256 * 1024;

/** What `accord ca backup` writes: the CA material sealed with the KEK, never a plain key. */
export interface CaBackup {
  readonly kind: 'accord-ca-backup';
  readonly v: 1;
  readonly trustDomain: string;
  readonly rootFingerprint: string;
  readonly createdAt: string;
  readonly envelope: Envelope;
}

export class CaContinuityError extends Error {
  readonly code = 'CA_CONTINUITY';
  constructor(message: string) {
    super(message);
    this.name = 'CaContinuityError';
  }
}

export function createCaBackup(material: CaMaterial, kek: Kek, trustDomain: string, now: number): CaBackup {
  return {
    kind: 'accord-ca-backup',
    v: 1,
    trustDomain,
    rootFingerprint: fingerprintOfPem(material.root.certPem),
    createdAt: new Date(now).toISOString(),
    envelope: seal(kek, serializeCaMaterial(material), BACKUP_CONTEXT),
  };
}

/** Opens a backup (JSON text or parsed) with the current or previous KEK. */
export function openCaBackup(input: unknown, kek: Kek, where: string): { material: CaMaterial; trustDomain: string } {
  let raw = input;
  if (typeof raw === 'string') {
    if (raw.length > MAX_BACKUP_BYTES) throw new CaContinuityError(`${where}: larger than ${MAX_BACKUP_BYTES} bytes; not a CA backup`);
    try {
      raw = JSON.parse(raw);
    } catch {
      throw new CaContinuityError(`${where}: not JSON; not a CA backup`);
    }
  }
  const backup = raw as Partial<CaBackup> | null;
  if (!backup || typeof backup !== 'object' || backup.kind !== 'accord-ca-backup' || backup.v !== 1) {
    throw new CaContinuityError(`${where}: field "kind": not an accord-ca-backup (v1)`);
  }
  if (typeof backup.trustDomain !== 'string' || !backup.envelope || typeof backup.envelope !== 'object') {
    throw new CaContinuityError(`${where}: fields "trustDomain" and "envelope" are required`);
  }
  const material = parseCaMaterial(open(kek, backup.envelope, BACKUP_CONTEXT), where);
  return { material, trustDomain: backup.trustDomain };
}

interface RootMarker {
  readonly trustDomain: string;
  readonly rootFingerprint: string;
}

async function readMarker(dataDir: string): Promise<RootMarker | undefined> {
  const file = path.join(dataDir, MARKER_FILE);
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<RootMarker>;
    if (typeof parsed.rootFingerprint !== 'string' || typeof parsed.trustDomain !== 'string') return undefined;
    return { trustDomain: parsed.trustDomain, rootFingerprint: parsed.rootFingerprint };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
}

/** Only public facts (a fingerprint, a trust domain): the marker is evidence, not material. */
async function writeMarker(dataDir: string, material: CaMaterial, trustDomain: string): Promise<void> {
  const marker: RootMarker = { trustDomain, rootFingerprint: fingerprintOfPem(material.root.certPem) };
  const temp = path.join(dataDir, `.${MARKER_FILE}.${randomBytes(4).toString('hex')}`);
  await writeFile(temp, JSON.stringify(marker) + '\n', { mode: 0o600 });
  await rename(temp, path.join(dataDir, MARKER_FILE));
}

export interface SharedCaStart {
  readonly kv: CaKv;
  readonly kek: Kek;
  readonly key: string;
  readonly dataDir: string;
  readonly trustDomain: string;
  /** A backup to restore from when the store holds no CA material. */
  readonly backupFile?: string;
  /** Mint a new root even though this data dir served another one. */
  readonly allowNewRoot: boolean;
  readonly logger: Logger;
}

/**
 * The shared CA material at start. An empty store is filled from the configured backup; failing
 * that, a new root is minted only when nothing says this replica served a mesh before.
 */
export async function loadSharedCaWithContinuity(start: SharedCaStart): Promise<CaMaterial> {
  const { kv, kek, key, logger } = start;
  const existing = await readSharedCaMaterial(kv, kek, key);
  if (existing?.resealed) logger.warn({ kvKey: key, kekId: kek.id }, 'CA material was sealed with the previous KEK; re-sealed with the current one');
  let material = existing?.material;
  if (!material && start.backupFile) {
    let text: string;
    try {
      text = await readFile(start.backupFile, 'utf8');
    } catch (error) {
      throw new CaContinuityError(`--ca-backup (${start.backupFile}): ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const restored = openCaBackup(text, kek, `--ca-backup (${start.backupFile})`);
    if (restored.trustDomain !== start.trustDomain) {
      throw new CaContinuityError(`--ca-backup (${start.backupFile}): backup of trust domain "${restored.trustDomain}", but this replica serves "${start.trustDomain}"`);
    }
    if (await kv.kvPutIfVersion(key, JSON.stringify(seal(kek, serializeCaMaterial(restored.material), key)), undefined)) {
      logger.warn({ backupFile: start.backupFile, rootFingerprint: fingerprintOfPem(restored.material.root.certPem) }, 'the store held no CA material; restored it from the backup');
    }
    material = (await readSharedCaMaterial(kv, kek, key))?.material;
  }
  if (!material) {
    const marker = await readMarker(start.dataDir);
    if (marker && !start.allowNewRoot) {
      throw new CaContinuityError(
        `the store holds no CA material, but this data dir (${start.dataDir}) last served root ${marker.rootFingerprint.slice(0, 16)}… of trust domain "${marker.trustDomain}": ` +
          'refusing to mint a new root (every token and trust would break); restore the CA with --ca-backup FILE, or start with --allow-new-root to begin a new mesh',
      );
    }
    if (marker) logger.warn({ previousRoot: marker.rootFingerprint }, '--allow-new-root: the store held no CA material; minting a new root');
    material = (await loadOrCreateShared(kv, kek, key, { trustDomain: start.trustDomain, now: Date.now(), logger })).material;
  } else {
    logger.info({ kvKey: key }, 'CA material loaded from the shared store');
  }
  await writeMarker(start.dataDir, material, start.trustDomain);
  return material;
}
