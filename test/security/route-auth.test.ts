import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/api/http.js';
import { call, opensslCsr, register, startIn, tempDir, whenRegistered, type Registered, type Running } from './support.js';

const READ_TOKEN = 'test-read-only-token';

/** Routes anyone may call: probes, metrics, the public trust bundle and the dashboard's static files (docs/security.md). */
const DASHBOARD = ['GET /ui', 'GET /ui/favicon.svg', 'GET /ui/style.css', ...['main', 'api', 'dom', 'format', 'graph', 'views'].map((m) => `GET /ui/${m}.js`)];
const OPEN = new Set(['GET /healthz', 'GET /readyz', 'GET /metrics', 'GET /v1/ca/bundle', ...DASHBOARD]);
/** Routes for agents: only a workload token, and they act on that token's workload only. */
const AGENT = new Set(['POST /v1/agent/certificate', 'GET /v1/agent/bundle', 'POST /v1/agent/token', 'POST /v1/agent/register']);

/**
 * Issue #9, item 11 and "make it stay fixed": every HTTP route the server exposes, enumerated from
 * fastify itself, called without credentials, with a workload token and with the read-only token.
 * Only the documented open routes answer without credentials; agent routes take only a workload
 * token; everything else needs the operator token (reads: or the read-only one).
 */
describe('every HTTP route, enumerated from the server, and who may call it', () => {
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  let workload: Registered;
  let csr: string;

  beforeAll(async () => {
    dir = await tempDir();
    accord = await startIn(dir.dir, {}, { ACCORD_API_READ_TOKEN: READ_TOKEN });
    workload = await register(accord.http, 'orders');
    csr = await opensslCsr(dir.dir, ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'], 'route');
    await whenRegistered(() => call(accord.http, 'GET', '/v1/agent/bundle', { token: workload.token }));
    const listed = (await call(accord.http, 'GET', '/v1/workloads')).body as { workloads: { id: string; service: string; address: string; port: number }[] };
    const own = listed.workloads.find((w) => w.id === workload.id);
    ownRegistration = { service: own?.service, address: own?.address, port: own?.port };
    // One policy object, so the per-object routes have something to read.
    const policy = 'apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: orders-timeouts }\nspec: { target: orders, connectTimeout: 2s }\n';
    const applied = await call(accord.http, 'POST', '/v1/policies:apply', { yaml: policy });
    if (applied.status !== 200) throw new Error(`policy apply: HTTP ${applied.status} ${applied.text}`);
  });
  afterAll(async () => {
    await accord.close();
    await dir.remove();
  });

  /** A route pattern as a URL: fastify writes a literal ":" as "::"; parameters get real values. */
  const concrete = (url: string): string =>
    url
      .replace(/\/:id\b/g, `/${workload.id}`)
      .replace(/\/:kind\b/g, '/TrafficPolicy')
      .replace(/\/:namespace\b/g, '/default')
      .replace(/\/:name\b/g, '/orders-timeouts')
      .replaceAll('::', ':');
  // The workload's own registration: the self re-registration route answers 200 (already registered).
  let ownRegistration: unknown;
  const bodyFor = (key: string): unknown => (key === 'POST /v1/agent/certificate' ? { csr } : key === 'POST /v1/agent/register' ? ownRegistration : key.startsWith('GET') || key.startsWith('HEAD') || key.startsWith('DELETE') ? undefined : {});

  it('enumerates the routes from fastify, and every one is classified', () => {
    const routes = registeredRoutes(accord.handle.http);
    const keys = [...new Set(routes.map((r) => `${r.method} ${r.url}`))].sort();
    console.log(`${keys.length} routes: ${keys.join(', ')}`);
    expect(keys.length).toBeGreaterThan(15);
    expect(keys).toEqual(expect.arrayContaining([...OPEN, ...AGENT]));
  });

  it('without credentials: only the open routes answer; everything else is 401', async () => {
    const answered: string[] = [];
    for (const { method, url } of registeredRoutes(accord.handle.http)) {
      const key = `${method} ${url}`;
      const answer = await call(accord.http, method, concrete(url), { token: null, body: bodyFor(key.replace(/^HEAD/, 'GET')) });
      if (answer.status < 400) answered.push(key);
      const open = OPEN.has(key.replace(/^HEAD/, 'GET'));
      expect(answer.status, `${key} without credentials`).toBe(open ? 200 : 401);
      if (!open && method !== 'HEAD') expect((answer.body as { error: { code: string } }).error.code).toBe('UNAUTHENTICATED');
    }
    console.log(`answered without credentials: ${answered.join(', ')}`);
  });

  it("with a workload token: open routes and that workload's agent routes only", async () => {
    for (const { method, url } of registeredRoutes(accord.handle.http)) {
      const key = `${method} ${url}`;
      const base = key.replace(/^HEAD/, 'GET');
      const answer = await call(accord.http, method, concrete(url), { token: workload.token, body: bodyFor(base) });
      if (OPEN.has(base) || AGENT.has(base)) {
        expect(answer.status, `${key} with a workload token: ${answer.text.slice(0, 200)}`).toBe(200);
      } else {
        expect(answer.status, `${key} with a workload token`).toBe(403);
      }
    }
    // The agent routes act on the token's own workload: its SPIFFE ID, nobody else's.
    const issued = await call(accord.http, 'POST', '/v1/agent/certificate', { token: workload.token, body: { csr } });
    expect((issued.body as { spiffeId: string }).spiffeId).toBe(workload.spiffeId);
    const renewed = await call(accord.http, 'POST', '/v1/agent/token', { token: workload.token });
    expect(JSON.parse(Buffer.from((renewed.body as { token: string }).token.split('.')[1] ?? '', 'base64url').toString()).sub).toBe(workload.id);
  });

  it('the operator token is not a workload token; the read-only token reads and changes nothing', async () => {
    for (const { method, url } of registeredRoutes(accord.handle.http)) {
      const key = `${method} ${url}`;
      const base = key.replace(/^HEAD/, 'GET');
      if (AGENT.has(base)) {
        expect((await call(accord.http, method, concrete(url), { body: bodyFor(base) })).status, `${key} with the operator token`).toBe(401);
        continue;
      }
      if (OPEN.has(base)) continue;
      const answer = await call(accord.http, method, concrete(url), { token: READ_TOKEN, body: bodyFor(base) });
      const read = method === 'GET' || method === 'HEAD';
      // Bootstraps mint a workload token and a CA backup carries the (sealed) CA keys, so they are the operator's alone.
      const operatorOnly = url.endsWith('/bootstrap') || url === '/v1/ca/backup';
      expect(answer.status, `${key} with the read-only token: ${answer.text.slice(0, 200)}`).toBe(read && !operatorOnly ? 200 : 403);
    }
  });
});
