import { randomBytes } from 'node:crypto';
import { mkdir, readlink, rename, rm, symlink, writeFile, readdir, lstat } from 'node:fs/promises';
import path from 'node:path';

export interface CertFiles {
  readonly certChainPem: string;
  readonly keyPem: string;
  readonly caBundlePem: string;
}

export const CERT_FILE = 'cert.pem';
export const KEY_FILE = 'key.pem';
export const CA_FILE = 'ca.pem';
const LIVE_LINK = '.live';

/**
 * Writes `cert.pem`, `key.pem` and `ca.pem` so that a reader never sees a certificate with the
 * wrong key: each generation goes to its own hidden directory, and one `rename()` of the `.live`
 * symlink switches all three at once. `DIR/cert.pem` etc. are stable symlinks through `.live`, so
 * readers (grpc's file_watcher polls each file separately) always open one generation.
 */
export class CertFileWriter {
  private generation = 0;

  constructor(private readonly dir: string) {}

  async write(files: CertFiles): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    this.generation += 1;
    const genName = `.gen-${Date.now()}-${this.generation}-${randomBytes(3).toString('hex')}`;
    const genDir = path.join(this.dir, genName);
    await mkdir(genDir, { mode: 0o700 });
    await writeFile(path.join(genDir, CERT_FILE), files.certChainPem, { mode: 0o644 });
    await writeFile(path.join(genDir, KEY_FILE), files.keyPem, { mode: 0o600 });
    await writeFile(path.join(genDir, CA_FILE), files.caBundlePem, { mode: 0o644 });

    const previous = await readlink(path.join(this.dir, LIVE_LINK)).catch(() => undefined);
    const tempLink = path.join(this.dir, `.live-${randomBytes(4).toString('hex')}`);
    await symlink(genName, tempLink);
    await rename(tempLink, path.join(this.dir, LIVE_LINK));

    for (const name of [CERT_FILE, KEY_FILE, CA_FILE]) await this.ensureStableLink(name);
    if (previous && previous !== genName) await this.pruneExcept(genName, previous);
  }

  private async ensureStableLink(name: string): Promise<void> {
    const target = path.join(LIVE_LINK, name);
    const file = path.join(this.dir, name);
    const existing = await readlink(file).catch(() => undefined);
    if (existing === target) return;
    const temp = path.join(this.dir, `.${name}-${randomBytes(4).toString('hex')}`);
    await symlink(target, temp);
    await rename(temp, file);
  }

  /** Keeps the live generation and the one before it (a reader may still hold it open). */
  private async pruneExcept(live: string, previous: string): Promise<void> {
    for (const entry of await readdir(this.dir)) {
      if (!entry.startsWith('.gen-') || entry === live || entry === previous) continue;
      const full = path.join(this.dir, entry);
      if ((await lstat(full)).isDirectory()) await rm(full, { recursive: true, force: true });
    }
  }
}
