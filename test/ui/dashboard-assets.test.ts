/**
 * The dashboard's static routes: the fixed file list, served with the strict headers; a build
 * without the browser modules answers 503 naming the fix (never a 500, never a directory read).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_CSP, DASHBOARD_MODULES, loadDashboardAssets, registerDashboard } from '../../src/api/dashboard.js';

describe('dashboard assets', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'accord-ui-'));
    await mkdir(path.join(root, 'ui', 'static'), { recursive: true });
    await writeFile(path.join(root, 'ui', 'static', 'index.html'), '<!doctype html><title>t</title>');
  });
  afterAll(async () => rm(root, { recursive: true, force: true }));

  it('serves the page with the CSP, and a missing module as 503 with how to build it', async () => {
    const app = Fastify();
    registerDashboard(app, await loadDashboardAssets(root));
    const page = await app.inject({ method: 'GET', url: '/ui' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(DASHBOARD_CSP);
    expect(page.headers['x-frame-options']).toBe('DENY');
    for (const name of DASHBOARD_MODULES) {
      const missing = await app.inject({ method: 'GET', url: `/ui/${name}` });
      expect(missing.statusCode).toBe(503);
      expect(missing.json()).toMatchObject({ error: { code: 'UNAVAILABLE', message: expect.stringContaining('npm run build') } });
    }
    // Only the fixed list is routed: nothing else under /ui reads the disk.
    expect((await app.inject({ method: 'GET', url: '/ui/../package.json' })).statusCode).not.toBe(200);
    expect((await app.inject({ method: 'GET', url: '/ui/index.html' })).statusCode).toBe(404);
    await app.close();
  });

  it("finds the package's own built assets from the module's location", async () => {
    const assets = await loadDashboardAssets();
    for (const [url, asset] of assets) expect(asset.body, `${url} (run npm run build)`).toBeDefined();
    expect(DASHBOARD_CSP).not.toContain('unsafe');
  });
});
