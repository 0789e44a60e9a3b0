import { chmod, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CERTIFICATE_TTL_MS } from '../../src/core/policy.js';
import { parsePolicyStream } from '../../src/config/index.js';
import { call, meshYaml, startIn, tempDir } from './support.js';

/** Issue #9, item 15: token files kept like ca.json, and a bounded certificate lifetime. */
describe('token file permissions and the Mesh certificate TTL bound', () => {
  let dir: { dir: string; remove(): Promise<void> };
  beforeAll(async () => {
    dir = await tempDir();
  });
  afterAll(async () => {
    await dir.remove();
  });

  it('narrows a group/world-readable api-token file to 0600 and says so', async () => {
    const dataDir = path.join(dir.dir, 'token-mode');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dataDir, { mode: 0o700 });
    const file = path.join(dataDir, 'api-token');
    await writeFile(file, 'kept-operator-token\n');
    await chmod(file, 0o644);
    const accord = await startIn(dataDir, {}, { ACCORD_API_TOKEN: '' });
    try {
      const mode = ((await stat(file)).mode & 0o777).toString(8);
      const warning = accord.logs.find((line) => line.includes('token file was readable'));
      console.log(`api-token 0644 at start -> ${mode}; ${warning ? JSON.parse(warning).msg : 'no warning'}`);
      expect(mode).toBe('600');
      expect(warning).toBeDefined();
      expect(accord.handle.apiToken).toBe('kept-operator-token');
    } finally {
      await accord.close();
    }
  });

  it(`refuses Mesh certificates.ttl above ${MAX_CERTIFICATE_TTL_MS / 86_400_000} days, naming the field`, async () => {
    const loaded = parsePolicyStream(meshYaml('{ ttl: 721h }'), 'mesh.yaml');
    expect(loaded.ok).toBe(false);
    const message = loaded.ok ? '' : loaded.errors.map((e) => `${e.line}:${e.column}: ${e.path}: ${e.message}`).join('\n');
    console.log(`ttl 721h: ${message}`);
    expect(message).toMatch(/spec\.certificates\.ttl: expected a duration of at most 720h/);
    expect(parsePolicyStream(meshYaml('{ ttl: 720h }'), 'mesh.yaml').ok).toBe(true);

    const accord = await startIn(path.join(dir.dir, 'ttl'));
    try {
      const answer = await call(accord.http, 'PUT', '/v1/policies', { yaml: meshYaml('{ ttl: 8760h }') });
      expect(answer.status).toBe(400);
      expect(answer.text).toContain('spec.certificates.ttl');
    } finally {
      await accord.close();
    }
  });
});
