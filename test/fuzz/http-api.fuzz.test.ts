import { request as httpRequest } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../../src/api/http.js';
import { OPERATOR, call, meshYaml, register, startIn, tempDir, type Registered, type Running } from '../security/support.js';
import { fuzzCases, heapMb } from './support.js';

/** This suite's share of ACCORD_FUZZ_CASES (test/fuzz/support.ts). */
const CASES = fuzzCases(0.2);
const SOCKET_CASES = Math.max(50, Math.round(CASES / 100));
const READ_TOKEN = 'fuzz-read-token';

interface FuzzRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly payload?: string;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'] as const;
const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/yaml',
  'text/yaml',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/json; charset=latin1',
];

const headerValue = fc.string({ maxLength: 200 }).map((text) => text.replace(/[^\x20-\x7e]/g, ''));
const headerName = fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/).filter((name) => !['content-length', 'transfer-encoding', 'host', 'connection'].includes(name));

/** Values of any JSON type, with a bias towards the edges: huge strings, deep nesting, odd numbers. */
const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 1000, maxLength: 20_000 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 0, 65536, 1e308, -0, Number.MAX_SAFE_INTEGER, '80', '', ' ', null, true, [], {}) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 200 }).map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown) },
);

/** A registration body: valid fields, broken fields, missing ones and unknown ones. */
const registration = fc
  .record(
    {
      service: fc.oneof(fc.constantFrom('orders', 'payments', 'a'.repeat(64), 'Bad_Name', ''), oddValue),
      address: fc.oneof(fc.constantFrom('127.0.0.1', '::1', 'host.example', '999.1.1.1', 'a b'), oddValue),
      port: fc.oneof(fc.integer({ min: -5, max: 70_000 }), oddValue),
      namespace: fc.oneof(fc.constantFrom('default', 'shop', '-x-'), oddValue),
      protocol: fc.oneof(fc.constantFrom('http', 'http2', 'grpc', 'tcp', 'udp'), oddValue),
      labels: fc.oneof(fc.dictionary(fc.string({ maxLength: 70 }), fc.string({ maxLength: 70 }), { maxKeys: 8 }), oddValue),
      ttl: fc.oneof(fc.constantFrom('30s', '0s', '-1s', '1h30m', '1000000h', 'soon'), oddValue),
      upstreams: fc.oneof(fc.array(fc.record({ service: fc.string({ maxLength: 20 }), localPort: fc.integer({ min: -1, max: 70_000 }) }), { maxLength: 4 }), oddValue),
      locality: fc.oneof(fc.record({ region: fc.string({ maxLength: 20 }), zone: fc.string({ maxLength: 20 }) }), oddValue),
    },
    { requiredKeys: [] },
  )
  .chain((body) => fc.dictionary(fc.string({ maxLength: 12 }), oddValue, { maxKeys: 2 }).map((extra) => ({ ...extra, ...body })));

const policyText = fc.oneof(
  fc.constantFrom(meshYaml(), meshYaml('{ ttl: 721h }'), meshYaml('{ ttl: 1s, rotateAt: 0.99 }'), '---\n---\n', ':\n  - [', 'kind: Mesh\n'),
  fc.string({ maxLength: 400 }),
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
);

/** Bodies by route: each route's own shape, broken in every way, or anything at all. */
function bodyFor(url: string): fc.Arbitrary<unknown> {
  if (url === '/v1/workloads') return fc.oneof({ weight: 3, arbitrary: registration }, { weight: 1, arbitrary: oddValue });
  if (url === '/v1/policies') return fc.oneof(policyText, oddValue);
  if (url === '/v1/ca/revoke') {
    return fc.oneof(
      fc.record({ serial: fc.oneof(fc.string({ maxLength: 60 }), oddValue) }, { requiredKeys: [] }),
      fc.record({ workload: fc.oneof(fc.string({ maxLength: 200 }), oddValue) }, { requiredKeys: [] }),
      fc.record({ serial: fc.string({ maxLength: 8 }), workload: fc.string({ maxLength: 8 }) }),
      oddValue,
    );
  }
  if (url === '/v1/tokens/deny') return fc.oneof(fc.record({ tokenId: fc.oneof(fc.string({ maxLength: 100 }), oddValue) }), oddValue);
  if (url === '/v1/agent/certificate') {
    return fc.oneof(
      fc.record({ csr: fc.oneof(fc.string({ maxLength: 300 }).map((b) => `-----BEGIN CERTIFICATE REQUEST-----\n${b}\n-----END CERTIFICATE REQUEST-----\n`), oddValue) }),
      oddValue,
    );
  }
  return oddValue;
}

describe(`HTTP API fuzz (${CASES} cases through inject, ${SOCKET_CASES} through the socket)`, () => {
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  let victim: Registered;
  let known: Registered;
  let routes: { method: string; url: string }[];
  /** What GET /v1/policies answers; changes only when a fuzz case is accepted. */
  let policies: string;
  const accepted: string[] = [];

  beforeAll(async () => {
    dir = await tempDir('accord-fuzz-http-');
    accord = await startIn(dir.dir, {}, { ACCORD_API_READ_TOKEN: READ_TOKEN });
    known = await register(accord.http, 'known');
    victim = await register(accord.http, 'victim');
    expect((await call(accord.http, 'PUT', '/v1/policies', { yaml: meshYaml() })).status).toBe(200);
    policies = (await call(accord.http, 'GET', '/v1/policies')).text;
    routes = registeredRoutes(accord.handle.http).map((r) => ({ method: r.method, url: r.url }));
  });
  afterAll(async () => {
    await accord.close();
    await dir.remove();
  });

  const requests = (): fc.Arbitrary<FuzzRequest> =>
    fc
      .record({
        route: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...routes) }, { weight: 1, arbitrary: fc.record({ method: fc.constantFrom(...METHODS), url: fc.webPath().map((p) => (p.startsWith('/') ? p : `/${p}`)) }) }),
        otherMethod: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
        id: fc.oneof(fc.stringMatching(/^[a-z0-9-]{1,20}$/), fc.string({ maxLength: 300 }).map(encodeURIComponent), fc.constantFrom('..', '%00', '%2e%2e', 'a'.repeat(2000))),
        query: fc.option(fc.webQueryParameters(), { freq: 3 }),
        auth: fc.oneof(
          { weight: 3, arbitrary: fc.constant(`Bearer ${OPERATOR}`) },
          { weight: 2, arbitrary: fc.constant(`Bearer ${READ_TOKEN}`) },
          { weight: 2, arbitrary: fc.constant('') },
          { weight: 2, arbitrary: fc.constant('workload') },
          { weight: 2, arbitrary: headerValue },
          { weight: 1, arbitrary: fc.string({ minLength: 100, maxLength: 8000 }).map((t) => `Bearer ${t.replace(/[^\x21-\x7e]/g, 'x')}`) },
        ),
        contentType: fc.oneof(
          { weight: 6, arbitrary: fc.constant('application/json') },
          { weight: 2, arbitrary: fc.constant('application/yaml') },
          { weight: 2, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
          { weight: 1, arbitrary: headerValue },
        ),
        extra: fc.dictionary(headerName, headerValue, { maxKeys: 4 }),
      })
      .chain(({ route, otherMethod, id, query, auth, contentType, extra }) =>
        bodyFor(route.url).map((body): FuzzRequest => {
          const method = otherMethod ?? route.method;
          // Operator-authenticated state changes the fuzz must not make: rotating the root or the token key, removing the victim.
          const url = route.url.replace(':id', id === victim.id ? 'x' : id) + (query ? `?${query}` : '');
          const authorization = auth === 'workload' ? `Bearer ${known.token}` : auth;
          const safeAuth = (route.url === '/v1/ca/rotate' || route.url.startsWith('/v1/ca/token-key/')) && authorization === `Bearer ${OPERATOR}` ? '' : authorization;
          const headers: Record<string, string> = { ...extra, 'content-type': contentType };
          if (safeAuth) headers.authorization = safeAuth;
          const payload = method === 'GET' || method === 'HEAD' ? undefined : typeof body === 'string' && !contentType.includes('json') ? body : JSON.stringify(body);
          return { method, url, headers, payload };
        }),
      );

  const check = (method: string, status: number, text: string, label: string): void => {
    expect(status, `${label} -> ${status} ${text.slice(0, 300)}`).toBeLessThan(500);
    if (status >= 400 && method !== 'HEAD') {
      const parsed = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
      expect(typeof parsed.error?.code, `${label}: ${text.slice(0, 200)}`).toBe('string');
      expect(typeof parsed.error?.message).toBe('string');
    }
  };

  const runInject = async (numRuns: number, seed: number): Promise<Map<number, number>> => {
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(requests(), async (req) => {
        const response = await accord.handle.http.inject({ method: req.method as 'GET', url: req.url, headers: req.headers, payload: req.payload });
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
        check(req.method, response.statusCode, response.body, `${req.method} ${req.url.slice(0, 100)}`);
        if (response.statusCode < 300 && req.method !== 'GET' && req.method !== 'HEAD') {
          if (req.url.startsWith('/v1/workloads') && req.method === 'POST') accepted.push((response.json() as { id: string }).id);
          if (req.url.startsWith('/v1/policies') && !req.url.includes('dryRun')) policies = (await call(accord.http, 'GET', '/v1/policies')).text;
        }
      }),
      { numRuns, seed, endOnFailure: true },
    );
    return statuses;
  };

  const cleanUp = async (): Promise<void> => {
    for (const id of accepted.splice(0)) await call(accord.http, 'DELETE', `/v1/workloads/${id}`);
    accord.logs.length = 0;
  };

  it('every answer is < 500 with a JSON error for 4xx; the process, the previous state and the heap hold', async () => {
    const seed = Number(process.env.ACCORD_FUZZ_SEED ?? Date.now() % 2 ** 31);
    const warmup = Math.min(2_000, Math.floor(CASES / 5));
    const warmed = await runInject(warmup, seed);
    await cleanUp();
    const baseline = heapMb();
    const started = Date.now();
    const statuses = await runInject(CASES - warmup, seed + 1);
    for (const [status, count] of warmed) statuses.set(status, (statuses.get(status) ?? 0) + count);
    await cleanUp();
    await new Promise((r) => setTimeout(r, 500));
    const after = heapMb();
    console.log(
      `HTTP fuzz: ${CASES} cases via inject (seed ${seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort()))}; ` +
        `heap ${baseline.toFixed(1)} MB -> ${after.toFixed(1)} MB`,
    );
    expect(statuses.get(500) ?? 0).toBe(0);
    // The process is up, the victim is still registered, the policies are the last ones accepted.
    expect((await call(accord.http, 'GET', '/healthz', { token: null })).status).toBe(200);
    const workloads = (await call(accord.http, 'GET', '/v1/workloads')).body as { workloads: { id: string }[] };
    expect(workloads.workloads.map((w) => w.id)).toContain(victim.id);
    expect((await call(accord.http, 'GET', '/v1/policies')).text).toBe(policies);
    expect(after - baseline).toBeLessThan(40);
  }, 300_000);

  it('a sample through the real socket, and headers over the parser limit, get JSON errors', async () => {
    const sample = fc.sample(requests(), { numRuns: SOCKET_CASES, seed: 7 });
    const port = accord.handle.httpPort;
    const send = (req: FuzzRequest): Promise<{ status: number; text: string }> =>
      new Promise((resolve, reject) => {
        const outgoing = httpRequest({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        });
        outgoing.on('error', reject);
        outgoing.end(req.payload);
      });
    let sent = 0;
    for (const req of sample) {
      let answer: { status: number; text: string };
      try {
        answer = await send(req);
      } catch (error) {
        // Node's client refuses some generated paths or header values before sending: not a server answer.
        if ((error as NodeJS.ErrnoException).code?.startsWith('ERR_')) continue;
        throw error;
      }
      sent += 1;
      check(req.method, answer.status, answer.text, `socket ${req.method} ${req.url.slice(0, 100)}`);
    }
    const huge = await send({ method: 'GET', url: '/v1/workloads', headers: { authorization: `Bearer ${'x'.repeat(20_000)}` } });
    console.log(`socket: ${sent} fuzz cases sent; a 20 KB header -> ${huge.status} ${huge.text}`);
    expect(huge.status).toBe(431);
    expect(JSON.parse(huge.text)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
    const big = await send({ method: 'PUT', url: '/v1/policies', headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/yaml' }, payload: 'a'.repeat(5 * 1024 * 1024) });
    expect(big.status).toBe(413);
    expect((await call(accord.http, 'GET', '/healthz', { token: null })).status).toBe(200);
    expect(sent).toBeGreaterThan(SOCKET_CASES / 2);
  }, 120_000);
});
