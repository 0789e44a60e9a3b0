import { randomBytes } from 'node:crypto';
import { link, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createCaMaterial, readSharedCaMaterial, replaceSharedCaMaterial, type CaKv, type CaMaterial, type Kek } from '../ca/index.js';
import { seal } from '../ca/envelope.js';
import { serializeCaMaterial, parseCaMaterial } from '../ca/material.js';

/**
 * Where the next CA generation (new root + intermediate) lives while a root rotation runs, and how
 * it becomes the current one at the end. Every replica must sign with the same next generation,
 * so creation is put-if-absent and the loser adopts the winner's.
 */
export interface CaGenerationStore {
  /** The next generation, if one was prepared. */
  loadNext(): Promise<CaMaterial | undefined>;
  /** Prepares the next generation (keeping the token key, so workload tokens stay valid). */
  createNext(current: CaMaterial, trustDomain: string, now: number): Promise<CaMaterial>;
  /** Makes `next` the current material and forgets the prepared one. */
  promote(next: CaMaterial): Promise<void>;
  /** The current material as stored (another replica may have renewed its intermediate). */
  loadCurrent(): Promise<CaMaterial | undefined>;
  /** Replaces the current material (same root, renewed intermediate); false if another replica wrote first. */
  replaceCurrent(material: CaMaterial, basedOn: CaMaterial): Promise<boolean>;
}

async function nextFrom(current: CaMaterial, trustDomain: string, now: number): Promise<CaMaterial> {
  return { ...(await createCaMaterial({ trustDomain, now })), tokenKey: current.tokenKey, previousTokenKey: current.previousTokenKey };
}

/** Whether two materials sign with the same intermediate and the same workload-token keys. */
function sameIssuerAndTokenKeys(a: CaMaterial, b: CaMaterial): boolean {
  return a.issuer.certPem === b.issuer.certPem && a.tokenKey === b.tokenKey && a.previousTokenKey?.key === b.previousTokenKey?.key && a.previousTokenKey?.until === b.previousTokenKey?.until;
}

/** The embedded default: `<dataDir>/ca-next.json` beside `ca.json`, both 0600. */
export class DataDirGenerationStore implements CaGenerationStore {
  constructor(private readonly dataDir: string) {}

  private get nextFile(): string {
    return path.join(this.dataDir, 'ca-next.json');
  }

  async loadNext(): Promise<CaMaterial | undefined> {
    try {
      return parseCaMaterial(await readFile(this.nextFile, 'utf8'), this.nextFile);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async createNext(current: CaMaterial, trustDomain: string, now: number): Promise<CaMaterial> {
    const existing = await this.loadNext();
    if (existing) return existing;
    const candidate = await nextFrom(current, trustDomain, now);
    const temp = path.join(this.dataDir, `.ca-next.${randomBytes(4).toString('hex')}`);
    await writeFile(temp, serializeCaMaterial(candidate), { mode: 0o600, flag: 'wx' });
    try {
      await link(temp, this.nextFile);
      return candidate;
    } catch {
      return (await this.loadNext()) ?? candidate;
    } finally {
      await unlink(temp).catch(() => undefined);
    }
  }

  async promote(next: CaMaterial): Promise<void> {
    // The token keys are the current ones: a token-key rotation may have happened meanwhile.
    const current = await this.loadCurrent();
    await this.writeCurrent(current ? { ...next, tokenKey: current.tokenKey, previousTokenKey: current.previousTokenKey } : next);
    await unlink(this.nextFile).catch(() => undefined);
  }

  async loadCurrent(): Promise<CaMaterial | undefined> {
    const file = path.join(this.dataDir, 'ca.json');
    return parseCaMaterial(await readFile(file, 'utf8'), file);
  }

  async replaceCurrent(material: CaMaterial): Promise<boolean> {
    await this.writeCurrent(material);
    return true;
  }

  private async writeCurrent(material: CaMaterial): Promise<void> {
    const temp = path.join(this.dataDir, `.ca.${randomBytes(4).toString('hex')}`);
    await writeFile(temp, serializeCaMaterial(material), { mode: 0o600 });
    await rename(temp, path.join(this.dataDir, 'ca.json'));
  }
}

/** Shared (Redis): the next generation sealed with the KEK under its own key. */
export class SharedGenerationStore implements CaGenerationStore {
  constructor(
    private readonly kv: CaKv,
    private readonly kek: Kek,
    private readonly currentKey: string,
    private readonly nextKey = `${currentKey}-next`,
  ) {}

  async loadNext(): Promise<CaMaterial | undefined> {
    return (await readSharedCaMaterial(this.kv, this.kek, this.nextKey))?.material;
  }

  async createNext(current: CaMaterial, trustDomain: string, now: number): Promise<CaMaterial> {
    const existing = await this.loadNext();
    if (existing) return existing;
    const candidate = await nextFrom(current, trustDomain, now);
    if (await this.kv.kvPutIfVersion(this.nextKey, JSON.stringify(seal(this.kek, serializeCaMaterial(candidate), this.nextKey)), undefined)) return candidate;
    const winner = await this.loadNext();
    if (!winner) throw new Error(`${this.nextKey}: lost the race to create the next CA generation, but nothing is stored`);
    return winner;
  }

  async loadCurrent(): Promise<CaMaterial | undefined> {
    return (await readSharedCaMaterial(this.kv, this.kek, this.currentKey))?.material;
  }

  async replaceCurrent(material: CaMaterial, basedOn: CaMaterial): Promise<boolean> {
    const stored = await readSharedCaMaterial(this.kv, this.kek, this.currentKey);
    // A renewal based on stale token keys must not undo a token-key rotation (and vice versa).
    if (!stored || !sameIssuerAndTokenKeys(stored.material, basedOn)) return false;
    return replaceSharedCaMaterial(this.kv, this.kek, this.currentKey, material, stored.version);
  }

  async promote(next: CaMaterial): Promise<void> {
    const stored = await readSharedCaMaterial(this.kv, this.kek, this.currentKey);
    if (stored && stored.material.root.certPem === next.root.certPem) return;
    if (!stored) throw new Error(`${this.currentKey}: no current CA material to replace`);
    // A lost race means another replica promoted the same generation first. The token keys are the
    // current ones: a token-key rotation may have happened while the root rotation ran.
    const promoted = { ...next, tokenKey: stored.material.tokenKey, previousTokenKey: stored.material.previousTokenKey };
    await replaceSharedCaMaterial(this.kv, this.kek, this.currentKey, promoted, stored.version);
  }
}
