/**
 * Credentials as mounted files (the Helm chart's way): `accord serve` reads the operator token,
 * the KEK and the Redis password from files, against a Redis that requires the password.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisServerProcess } from '../registry/redis-server-process.js';
import { AccordProcess, CLI, OPERATOR_TOKEN, TEST_KEK } from './processes.js';

describe('accord serve with secrets in files', () => {
  let redis: RedisServerProcess;
  const dir = mkdtempSync(path.join(tmpdir(), 'accord-secrets-'));
  const file = (name: string, content: string): string => {
    const full = path.join(dir, name);
    writeFileSync(full, content, { mode: 0o400 });
    return full;
  };

  beforeAll(async () => {
    redis = await RedisServerProcess.start({ password: 'redis-s3cret' });
  });
  afterAll(async () => redis?.destroy());

  it('reads the operator token, the KEK and the Redis password from files and serves', async () => {
    const accord = await AccordProcess.start(['--redis', redis.url], {
      ACCORD_API_TOKEN: '',
      ACCORD_CA_KEK: '',
      ACCORD_API_TOKEN_FILE: file('api-token', `${OPERATOR_TOKEN}\n`),
      ACCORD_CA_KEK_FILE: file('ca-kek', `${TEST_KEK}\n`),
      ACCORD_REDIS_PASSWORD_FILE: file('redis-password', 'redis-s3cret\n'),
    });
    try {
      const registered = await accord.request('POST', '/v1/workloads', { service: 'orders', address: '10.0.0.1', port: 8080 });
      expect(registered.status).toBe(201);
      expect(accord.output.join('')).not.toContain('redis-s3cret');
    } finally {
      await accord.stop();
    }
  });

  it('without the Redis password it exits with one clear line', async () => {
    const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--xds-port', '0', '--http-port', '0', '--redis', redis.url, '--data-dir', dir], {
      env: { ...process.env, ACCORD_API_TOKEN: OPERATOR_TOKEN, ACCORD_CA_KEK: TEST_KEK },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/^accord: serve failed to start: cannot reach the registry's Redis at redis:\/\/127\.0\.0\.1:\d+: .*NOAUTH/m);
  }, 30_000);
});
