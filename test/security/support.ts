import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll } from 'vitest';
import { REDIS_URL, deletePrefix } from '../registry/redis-helpers.js';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { REDACTED_PATHS } from '../../src/observability/logger.js';
import { resolveServeOptions } from '../../src/app/options.js';
import { startAccord, type AccordHandle } from '../../src/app/serve.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ackOf } from '../support/ads-client.js';

export const run = promisify(execFile);
export const codec = new XdsCodec(loadEnvoyProtos());
export const OPERATOR = 'test-operator-token';

export interface Running {
  readonly handle: AccordHandle;
  readonly dataDir: string;
  readonly http: string;
  readonly xds: string;
  readonly logs: string[];
  close(): Promise<void>;
}

/** The real composition root on ephemeral ports, in a data dir the caller owns (so it survives a restart). */
export async function startIn(dataDir: string, flags: Record<string, string | boolean> = {}, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(line);
      callback();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' } }, sink);
  const options = resolveServeOptions(
    { dataDir, host: '127.0.0.1', xdsPort: '0', httpPort: '0', ...flags },
    { ACCORD_API_TOKEN: OPERATOR, ACCORD_SHUTDOWN_GRACE_MS: '200', ...env },
  );
  const handle = await startAccord(options, { logger });
  return {
    handle,
    dataDir,
    http: `http://127.0.0.1:${handle.httpPort}`,
    xds: `127.0.0.1:${handle.xdsPort}`,
    logs,
    close: () => handle.close(),
  };
}

export async function tempDir(prefix = 'accord-sec-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

export interface Answer {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export async function call(
  base: string,
  method: string,
  urlPath: string,
  options: { body?: unknown; yaml?: string; token?: string | null } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? OPERATOR : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${base}${urlPath}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed, text, headers: response.headers };
}

export interface Registered {
  id: string;
  spiffeId: string;
  token: string;
}

/** A loopback address no other registration in the run uses: each `register` is a new endpoint (a new workload). */
function freshAddress(): string {
  const [a = 1, b = 1, c = 1] = [...randomBytes(3)].map((byte) => 1 + (byte % 254));
  return `127.${a}.${b}.${c}`;
}

/** Registers a new workload (a new endpoint: re-registering an endpoint would return its workload). */
export async function register(base: string, service: string, port = 9000): Promise<Registered> {
  const answer = await call(base, 'POST', '/v1/workloads', { body: { service, address: freshAddress(), port } });
  if (answer.status !== 201) throw new Error(`register ${service}: HTTP ${answer.status} ${answer.text}`);
  return answer.body as Registered;
}

export function meshYaml(certificates = '{ ttl: 24h }'): string {
  return `apiVersion: accord.dev/v1
kind: Mesh
metadata: { name: default }
spec:
  trustDomain: mesh.local
  certificates: ${certificates}
`;
}

/** A PEM CSR made by openssl with the given `-newkey` argument (e.g. `ec -pkeyopt ec_paramgen_curve:P-256`). */
export async function opensslCsr(dir: string, newkey: readonly string[], name: string): Promise<string> {
  const keyFile = path.join(dir, `${name}.key`);
  const csrFile = path.join(dir, `${name}.csr`);
  await run('openssl', ['req', '-new', ...newkey, '-nodes', '-keyout', keyFile, '-out', csrFile, '-subj', '/CN=test']);
  return readFile(csrFile, 'utf8');
}

export function envoyNode(id: string): { id: string; cluster: string; user_agent_name: string } {
  return { id, cluster: 'test', user_agent_name: 'envoy' };
}

/** The `ROOTCA` secret's CRL as a workload's proxy receives it over SDS (undefined: no CRL). */
export async function crlOverSds(xds: string, workload: Registered): Promise<string | undefined> {
  const client = new XdsTestClient(xds, codec, { metadata: { authorization: `Bearer ${workload.token}` } });
  try {
    const stream = client.sotw();
    stream.send({ node: envoyNode(workload.id), type_url: TypeUrl.Secret, resource_names: ['ROOTCA'] });
    const response = await stream.nextOfType(TypeUrl.Secret, 10_000);
    stream.send(ackOf(response, ['ROOTCA']));
    const secret = codec.decodeAny(response.resources[0] as { type_url: string; value: Uint8Array });
    const context = secret.validation_context as { crl?: { inline_string?: string; inline_bytes?: string } };
    const crl = context.crl;
    if (!crl) return undefined;
    return crl.inline_string ?? Buffer.from(String(crl.inline_bytes), 'base64').toString('utf8');
  } finally {
    client.close();
  }
}

/** Serials (lower-case hex) listed in a PEM CRL bundle, by openssl. */
export async function crlSerials(dir: string, crlPem: string): Promise<string[]> {
  const serials: string[] = [];
  const blocks = crlPem.match(/-----BEGIN X509 CRL-----[\s\S]+?-----END X509 CRL-----\n?/g) ?? [];
  for (const [i, block] of blocks.entries()) {
    const file = path.join(dir, `crl-${i}.pem`);
    await import('node:fs/promises').then((fs) => fs.writeFile(file, block));
    const { stdout } = await run('openssl', ['crl', '-noout', '-text', '-in', file]);
    for (const match of stdout.matchAll(/Serial Number: ([0-9A-Fa-f]+)/g)) serials.push((match[1] as string).toLowerCase().replace(/^(00)+/, ''));
  }
  return serials;
}

/** Retries `attempt` while it answers 404 (the registration has not reached the mirror yet). */
export async function whenRegistered(attempt: () => Promise<Answer>, timeoutMs = 10_000): Promise<Answer> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await attempt();
    if (answer.status !== 404 || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Two replicas sharing one Redis prefix and KEK, each with its own data dir: started before the
 * suite's tests, stopped (and the prefix deleted) after them.
 */
export function twoRedisReplicas(name: string): { a: Running; b: Running } {
  const prefix = `accord-${name}-${randomBytes(4).toString('hex')}`;
  const env = { ACCORD_CA_KEK: randomBytes(32).toString('hex') };
  const dirs: { dir: string; remove(): Promise<void> }[] = [];
  const replicas = {} as { a: Running; b: Running };
  beforeAll(async () => {
    dirs.push(await tempDir(), await tempDir());
    replicas.a = await startIn(dirs[0]?.dir ?? '', { redis: REDIS_URL, redisPrefix: prefix }, env);
    replicas.b = await startIn(dirs[1]?.dir ?? '', { redis: REDIS_URL, redisPrefix: prefix }, env);
  });
  afterAll(async () => {
    await replicas.a?.close();
    await replicas.b?.close();
    for (const d of dirs) await d.remove();
    await deletePrefix(`{${prefix}}:`);
  });
  return replicas;
}
