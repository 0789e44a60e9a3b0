import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CA_STATE_FILE, DataDirKv } from '../../src/identity/data-dir-kv.js';
import { silentLogger } from '../../src/observability/logger.js';
import { describeCaKvConformance } from '../ca/kv-conformance.js';
import { tempDir } from './support.js';

let dir: { dir: string; remove(): Promise<void> };
let counter = 0;
beforeAll(async () => {
  dir = await tempDir('accord-kv-');
});
afterAll(async () => {
  await dir.remove();
});

describeCaKvConformance(
  'data dir',
  async () => {
    const dataDir = path.join(dir.dir, `conformance-${counter++}`);
    await mkdir(dataDir);
    return DataDirKv.open(dataDir, silentLogger());
  },
  () => 'test:',
);

/** Issue #9, item 6: the CA's state for the memory store lives in the data dir, 0600, across restarts. */
describe('DataDirKv', () => {
  it('keeps values and versions across a reopen, in an owner-only file', async () => {
    const dataDir = path.join(dir.dir, 'reopen');
    await mkdir(dataDir);
    const first = await DataDirKv.open(dataDir, silentLogger());
    expect(await first.kvPutIfVersion('accord/ca/revocations', '{"certificates":[]}', undefined)).toBe(true);
    expect(await first.kvPutIfVersion('accord/ca/revocations', '{"certificates":[1]}', 1)).toBe(true);
    const again = await DataDirKv.open(dataDir, silentLogger());
    expect(await again.kvGet('accord/ca/revocations')).toEqual({ value: '{"certificates":[1]}', version: 2 });
    expect(((await stat(path.join(dataDir, CA_STATE_FILE))).mode & 0o777).toString(8)).toBe('600');
  });

  it('narrows a group- or world-readable state file to 0600, and refuses a corrupt one with a clear message', async () => {
    const dataDir = path.join(dir.dir, 'modes');
    await mkdir(dataDir);
    const file = path.join(dataDir, CA_STATE_FILE);
    await writeFile(file, '{}');
    await chmod(file, 0o644);
    await DataDirKv.open(dataDir, silentLogger());
    expect(((await stat(file)).mode & 0o777).toString(8)).toBe('600');
    await writeFile(file, '{"broken": ');
    await expect(DataDirKv.open(dataDir, silentLogger())).rejects.toThrow(/ca-state\.json: not valid JSON/);
  });
});
