/**
 * The web dashboard at `/ui` (docs/decisions/0026-web-dashboard.md): a page, a stylesheet, an icon and the
 * browser modules tsc compiled from `ui/src` to `dist/ui`, read once at start-up and served from
 * memory. The assets are open (they hold no data); every data call they make goes to `/v1` with the
 * operator or read-only token as a Bearer header.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ApiError } from './errors.js';

/** The browser modules `ui/tsconfig.json` emits; fixed, so the route list does not depend on the build. */
export const DASHBOARD_MODULES = ['main.js', 'api.js', 'dom.js', 'format.js', 'graph.js', 'views.js'] as const;

/** Nothing from elsewhere: no inline script or style, no framing, data only from this origin. */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export interface DashboardAsset {
  readonly contentType: string;
  /** Undefined when the file was not built (the route answers 503 and says how to build it). */
  readonly body: Buffer | undefined;
}

export type DashboardAssets = ReadonlyMap<string, DashboardAsset>;

/** The package root: the nearest directory above this module holding package.json (source and dist alike). */
function packageRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

async function readOptional(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Reads the dashboard's files: URL path (under /ui) to content. */
export async function loadDashboardAssets(root = packageRoot(import.meta.dirname)): Promise<DashboardAssets> {
  const assets = new Map<string, DashboardAsset>();
  assets.set('/ui', { contentType: 'text/html; charset=utf-8', body: await readOptional(path.join(root, 'ui', 'static', 'index.html')) });
  assets.set('/ui/favicon.svg', { contentType: 'image/svg+xml', body: await readOptional(path.join(root, 'ui', 'static', 'favicon.svg')) });
  assets.set('/ui/style.css', { contentType: 'text/css; charset=utf-8', body: await readOptional(path.join(root, 'ui', 'static', 'style.css')) });
  for (const name of DASHBOARD_MODULES) {
    assets.set(`/ui/${name}`, { contentType: 'text/javascript; charset=utf-8', body: await readOptional(path.join(root, 'dist', 'ui', name)) });
  }
  return assets;
}

/** Adds the open, read-only asset routes, each with the strict headers. */
export function registerDashboard(app: FastifyInstance, assets: DashboardAssets): void {
  for (const [url, asset] of assets) {
    app.get(url, async (_request, reply) => {
      void reply
        .header('content-security-policy', DASHBOARD_CSP)
        .header('x-content-type-options', 'nosniff')
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache');
      if (!asset.body) {
        return reply.status(503).send(new ApiError('UNAVAILABLE', `dashboard asset ${url} was not built; run "npm run build"`).toJSON());
      }
      return reply.header('content-type', asset.contentType).send(asset.body);
    });
  }
}
