import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { REDACTED_PATHS } from '../../src/observability/logger.js';
import { resolveServeOptions, type ServeOptions } from '../../src/app/options.js';
import { startAccord, type AccordHandle } from '../../src/app/serve.js';

export interface TestAccord {
  readonly handle: AccordHandle;
  readonly dataDir: string;
  readonly http: string;
  readonly xds: string;
  readonly token: string;
  /** Everything the process logged, one JSON line each. */
  readonly logs: string[];
  close(): Promise<void>;
}

/** Starts the real composition root on ephemeral ports with a temp data dir and captured logs. */
export async function startTestAccord(
  flags: Record<string, string | boolean> = {},
  env: NodeJS.ProcessEnv = {},
  prepareDataDir?: (dataDir: string) => Promise<void>,
): Promise<TestAccord> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'accord-test-'));
  await prepareDataDir?.(dataDir);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) logs.push(line);
      callback();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: [...REDACTED_PATHS], censor: '[redacted]' } }, sink);
  const options: ServeOptions = resolveServeOptions(
    { dataDir, host: '127.0.0.1', xdsPort: '0', httpPort: '0', ...flags },
    { ACCORD_API_TOKEN: 'test-operator-token', ACCORD_SHUTDOWN_GRACE_MS: '200', ...env },
  );
  const handle = await startAccord(options, { logger });
  return {
    handle,
    dataDir,
    http: `http://127.0.0.1:${handle.httpPort}`,
    xds: `127.0.0.1:${handle.xdsPort}`,
    token: handle.apiToken,
    logs,
    close: async () => {
      await handle.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function api(
  accord: TestAccord,
  method: string,
  urlPath: string,
  options: { body?: unknown; yaml?: string; token?: string | null } = {},
): Promise<{ status: number; body: unknown; text: string }> {
  const headers: Record<string, string> = {};
  const token = options.token === undefined ? accord.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.yaml !== undefined) {
    headers['content-type'] = 'application/yaml';
    body = options.yaml;
  } else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const response = await fetch(`${accord.http}${urlPath}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, body: parsed, text };
}

/** A Mesh policy (trust domain mesh.local) whose certificates live `ttl` and are renewed at half-life, ± 5 %. */
export function shortLivedMesh(ttl: string, mtls?: 'STRICT' | 'PERMISSIVE'): string {
  return `apiVersion: accord.dev/v1
kind: Mesh
metadata: { name: default }
spec:
  trustDomain: mesh.local
${mtls ? `  mtls: ${mtls}\n` : ''}  certificates: { ttl: ${ttl}, rotateAt: 0.5, jitter: 0.05 }
`;
}
