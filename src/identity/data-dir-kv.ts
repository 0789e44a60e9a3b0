import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MemoryCaKv, type VersionedValue } from '../ca/index.js';
import type { Logger } from '../observability/logger.js';

export const CA_STATE_FILE = 'ca-state.json';

/**
 * The CA's versioned key-value state (revocations, revoked workloads, denied tokens, the phase of
 * a root rotation) kept in the data dir beside ca.json, for the memory store, which forgets
 * everything on restart. Owner-only (0600) like ca.json; every write replaces the whole file
 * atomically (temp file, then rename). One process per data dir, as with the data-dir CA itself.
 */
export class DataDirKv extends MemoryCaKv {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    entries: Map<string, VersionedValue>,
  ) {
    super(entries, () => this.persist());
  }

  static async open(dataDir: string, logger: Logger): Promise<DataDirKv> {
    const file = path.join(dataDir, CA_STATE_FILE);
    const entries = new Map<string, VersionedValue>();
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      const mode = (await stat(file)).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        logger.warn({ file, mode: mode.toString(8) }, 'CA state file was readable by others; set to 0600');
        await chmod(file, 0o600);
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw new Error(`${file}: not valid JSON; restore it from a backup or remove it (revocations and denied tokens would be forgotten)`);
      }
      for (const [key, entry] of Object.entries(isRecord(parsed) ? parsed : {})) {
        if (!isRecord(entry) || typeof entry.value !== 'string' || typeof entry.version !== 'number') {
          throw new Error(`${file}: entry "${key.slice(0, 100)}" must be {"value": string, "version": number}`);
        }
        entries.set(key, { value: entry.value, version: entry.version });
      }
      logger.info({ file, keys: entries.size }, 'CA state loaded from the data dir');
    }
    return new DataDirKv(file, entries);
  }

  /** Writes are serialised so the file always ends at the newest state. */
  private persist(): Promise<void> {
    const next = this.writing.then(() => this.writeFile());
    this.writing = next.catch(() => undefined);
    return next;
  }

  private async writeFile(): Promise<void> {
    const temp = `${this.file}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writeFile(temp, JSON.stringify(Object.fromEntries(this.entries)), { mode: 0o600, flag: 'wx' });
      await rename(temp, this.file);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
