/**
 * Issue #15: `accord serve` reaches a Redis that speaks only TLS and refuses the default user,
 * logging in as an ACL user whose keys are limited to Accord's prefix.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, freePort } from './processes.js';

describe('Redis over TLS with an ACL user (own redis-server)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'accord-redis-tls-'));
  const file = (name: string): string => path.join(dir, name);
  let redis: ChildProcess | undefined;
  let port = 0;

  beforeAll(async () => {
    const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
    openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('ca.key'), '-out', file('ca.pem'), '-days', '1', '-subj', '/CN=redis-test-ca');
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', file('srv.key'), '-out', file('srv.csr'), '-subj', '/CN=127.0.0.1');
    writeFileSync(file('ext'), 'subjectAltName=IP:127.0.0.1\n');
    openssl('x509', '-req', '-in', file('srv.csr'), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-out', file('srv.pem'), '-days', '1', '-extfile', file('ext'));
    writeFileSync(file('users.acl'), 'user default off\nuser accord on >acl-s3cret ~{tlsmesh}:* +@all -@dangerous +info +cluster|info\n');
    port = await freePort();
    redis = spawn(
      'redis-server',
      ['--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1', '--tls-cert-file', file('srv.pem'), '--tls-key-file', file('srv.key'),
        '--tls-ca-cert-file', file('ca.pem'), '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', dir, '--aclfile', file('users.acl')],
      { stdio: 'ignore' },
    );
    const probe = new Redis({ port, host: '127.0.0.1', username: 'accord', password: 'acl-s3cret', tls: { ca: execFileSync('cat', [file('ca.pem')]) }, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    probe.on('error', () => undefined); // refused until the server listens; retried below
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await probe.connect();
        if ((await probe.ping()) === 'PONG') break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        probe.disconnect();
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    probe.disconnect();
  }, 30_000);
  afterAll(() => {
    redis?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves with rediss://user:password@ and the CA from NODE_EXTRA_CA_CERTS; a wrong password fails the start', async () => {
    const url = `rediss://accord:acl-s3cret@127.0.0.1:${port}`;
    const accord = await AccordProcess.start(['--redis', url, '--redis-prefix', 'tlsmesh'], { NODE_EXTRA_CA_CERTS: file('ca.pem') });
    try {
      const registered = await accord.request('POST', '/v1/workloads', { service: 'orders', address: '10.0.0.1', port: 8080 });
      expect(registered.status).toBe(201);
      expect((await accord.request('GET', '/v1/workloads')).body).toMatchObject({ workloads: [{ service: 'orders' }] });
      expect(accord.output.join('')).not.toContain('acl-s3cret');
    } finally {
      await accord.stop();
    }
    // The password kept apart from the URL (ACCORD_REDIS_PASSWORD) keeps the ACL user.
    const apart = await AccordProcess.start(['--redis', `rediss://accord@127.0.0.1:${port}`, '--redis-prefix', 'tlsmesh'], {
      NODE_EXTRA_CA_CERTS: file('ca.pem'),
      ACCORD_REDIS_PASSWORD: 'acl-s3cret',
    });
    try {
      expect((await apart.request('GET', '/v1/workloads')).body).toMatchObject({ workloads: [{ service: 'orders' }] });
    } finally {
      await apart.stop();
    }
    await expect(
      AccordProcess.start(['--redis', `rediss://accord:wrong@127.0.0.1:${port}`, '--redis-prefix', 'tlsmesh'], { NODE_EXTRA_CA_CERTS: file('ca.pem') }),
    ).rejects.toThrow(/WRONGPASS|invalid username-password/);
  }, 90_000);
});
