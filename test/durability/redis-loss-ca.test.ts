import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REDIS_URL, deletePrefix } from '../registry/redis-helpers.js';
import { runCli } from '../cli/run-cli.js';
import { OPERATOR, call, startIn, tempDir, whenRegistered, type Running } from '../security/support.js';

/** Issue #15: Redis losing the CA material does not reset the mesh's identity. */
describe('Redis loss without an identity reset (real Redis, real CLI)', () => {
  const prefix = `accord-loss-${randomBytes(4).toString('hex')}`;
  const env = { ACCORD_CA_KEK: randomBytes(32).toString('hex') };
  const flags = { redis: REDIS_URL, redisPrefix: prefix };
  const dirs: { dir: string; remove(): Promise<void> }[] = [];
  const running: Running[] = [];
  afterAll(async () => {
    for (const r of running) await r.close();
    for (const d of dirs) await d.remove();
    await deletePrefix(`{${prefix}}:`);
  });
  const start = async (dir: string, extra: Record<string, string | boolean> = {}): Promise<Running> => {
    const replica = await startIn(dir, { ...flags, ...extra }, env);
    running.push(replica);
    return replica;
  };
  const stop = async (replica: Running): Promise<void> => {
    running.splice(running.indexOf(replica), 1);
    await replica.close();
  };
  const root = async (replica: Running): Promise<string> => (await call(replica.http, 'GET', '/v1/ca/bundle', { token: null })).text;
  const endpoint = { service: 'orders', address: '127.9.8.7', port: 9000 };

  it('a replica refuses to mint a new root over an empty store; a sealed backup restores the same root and token key', async () => {
    const data = await tempDir();
    dirs.push(data);
    const first = await start(data.dir);
    const rootBefore = await root(first);
    const registered = await call(first.http, 'POST', '/v1/workloads', { body: endpoint });
    expect(registered.status).toBe(201);
    const { id, token } = registered.body as { id: string; token: string };

    // accord ca backup -o FILE: operator only, sealed, 0600.
    expect((await call(first.http, 'GET', '/v1/ca/backup', { token: null })).status).toBe(401);
    const backupFile = path.join(data.dir, 'ca-backup.json');
    const backup = await runCli(['ca', 'backup', '-o', backupFile, '--server', first.http], { ACCORD_API_TOKEN: OPERATOR });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const backupText = await readFile(backupFile, 'utf8');
    expect((await stat(backupFile)).mode & 0o777).toBe(0o600);
    expect(backupText).not.toMatch(/BEGIN|PRIVATE|tokenKey/);
    expect(JSON.parse(backupText)).toMatchObject({ kind: 'accord-ca-backup', trustDomain: 'mesh.local' });

    // Redis loses everything while the replica is down.
    await stop(first);
    await deletePrefix(`{${prefix}}:`);

    // The real process: one clear line, non-zero exit, no new root minted.
    const refused = await runCli(['serve', '--data-dir', data.dir, '--redis', REDIS_URL, '--redis-prefix', prefix, '--xds-port', '0', '--http-port', '0'], {
      ...env,
      ACCORD_API_TOKEN: OPERATOR,
    });
    expect(refused.code).toBe(1);
    const lines = refused.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('refusing to mint a new root');
    expect(lines[0]).toContain('--allow-new-root');
    console.log(`empty store, data dir of a served root: exit ${String(refused.code)}: ${lines[0]}`);

    // Started with the backup: the same root, and tokens signed before the loss still authenticate.
    const restored = await start(data.dir, { caBackup: backupFile });
    expect(await root(restored)).toBe(rootBefore);
    const again = await call(restored.http, 'POST', '/v1/workloads', { body: endpoint });
    expect((again.body as { id: string }).id).toBe(id);
    expect((await whenRegistered(() => call(restored.http, 'GET', '/v1/agent/bundle', { token }))).status).toBe(200);

    // accord ca restore -f FILE onto a store that holds the root already: nothing to do, exit 0.
    const restore = await runCli(['ca', 'restore', '-f', backupFile, '--server', restored.http], { ACCORD_API_TOKEN: OPERATOR });
    expect(restore.code).toBe(0);
    expect(restore.stdout).toContain('nothing to restore');

    // Redis loses it again under a running replica, then restore puts it back.
    await deletePrefix(`{${prefix}}:`);
    const putBack = await runCli(['ca', 'restore', '-f', backupFile, '--server', restored.http], { ACCORD_API_TOKEN: OPERATOR });
    expect(putBack.stdout + putBack.stderr).toMatch(/restored into the store|nothing to restore/);
    expect(putBack.code).toBe(0);
    await stop(restored);
    const other = await tempDir();
    dirs.push(other);
    const fresh = await start(other.dir);
    expect(await root(fresh)).toBe(rootBefore);
    await stop(fresh);

    // An explicit new mesh: --allow-new-root mints a new root over an empty store.
    await deletePrefix(`{${prefix}}:`);
    const renewed = await start(data.dir, { allowNewRoot: true });
    expect(await root(renewed)).not.toBe(rootBefore);
    expect((await call(renewed.http, 'GET', '/v1/agent/bundle', { token })).status).toBe(401);
  }, 120_000);

  it('a backup is refused without the operator token, and one of another root is refused by restore', async () => {
    const a = await tempDir();
    const b = await tempDir();
    dirs.push(a, b);
    const otherPrefix = `accord-loss-other-${randomBytes(4).toString('hex')}`;
    const mesh = await start(a.dir);
    const elsewhere = await startIn(b.dir, { redis: REDIS_URL, redisPrefix: otherPrefix }, env);
    running.push(elsewhere);
    try {
      const foreign = await call(elsewhere.http, 'GET', '/v1/ca/backup');
      expect(foreign.status).toBe(200);
      expect((await call(mesh.http, 'POST', '/v1/ca/restore', { body: { backup: foreign.body }, token: 'nope' })).status).toBe(403);
      const refused = await call(mesh.http, 'POST', '/v1/ca/restore', { body: { backup: foreign.body } });
      expect(refused.status).toBe(409);
      expect(refused.text).toContain('the backup holds');
      const garbage = await call(mesh.http, 'POST', '/v1/ca/restore', { body: { backup: { kind: 'nope' } } });
      expect(garbage.status).toBe(400);
    } finally {
      await deletePrefix(`{${otherPrefix}}:`);
    }
  }, 60_000);
});
