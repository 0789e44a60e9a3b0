import { mkdtempSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServeOptions } from '../../src/app/options.js';

const dir = mkdtempSync(path.join(tmpdir(), 'accord-options-'));
function file(name: string, content: string): string {
  const full = path.join(dir, name);
  writeFileSync(full, content, { mode: 0o600 });
  return full;
}

describe('serve options', () => {
  it('reads the KEK and the Redis URL from the files their *_FILE variables name; the operator token file is passed on to serve', () => {
    const tokenFile = file('token', 'operator-token\n');
    const options = resolveServeOptions(
      {},
      {
        ACCORD_API_TOKEN_FILE: tokenFile,
        ACCORD_CA_KEK_FILE: file('kek', `${'ab'.repeat(32)}\n`),
        ACCORD_REDIS_FILE: file('redis', 'redis-sentinel://:s3cret@sentinel:26379/mymaster\n'),
      },
    );
    expect(options.apiTokenFile).toBe(tokenFile);
    expect(options.apiToken).toBeUndefined();
    expect(resolveServeOptions({ apiTokenFile: '/flag/tokens' }, { ACCORD_API_TOKEN_FILE: tokenFile }).apiTokenFile).toBe('/flag/tokens');
    expect(options.caKek).toBe('ab'.repeat(32));
    expect(options.redisUrl).toBe('redis-sentinel://:s3cret@sentinel:26379/mymaster');
  });

  it('the --redis flag wins over ACCORD_REDIS_FILE; plain variables still work', () => {
    const options = resolveServeOptions({ redis: 'redis://flag:6379' }, { ACCORD_REDIS_FILE: file('redis2', 'redis://file:6379'), ACCORD_API_TOKEN: 'plain' });
    expect(options.redisUrl).toBe('redis://flag:6379');
    expect(options.apiToken).toBe('plain');
  });

  it('refuses a secret set both ways, an unreadable or empty file, and a file of several values, naming the variable', () => {
    expect(() => resolveServeOptions({}, { ACCORD_API_TOKEN: 'a', ACCORD_API_TOKEN_FILE: file('t2', 'b') })).toThrow(
      'ACCORD_API_TOKEN and ACCORD_API_TOKEN_FILE are both set; set one of them',
    );
    expect(() => resolveServeOptions({}, { ACCORD_CA_KEK_FILE: path.join(dir, 'missing') })).toThrow(/^ACCORD_CA_KEK_FILE: cannot read .*missing: ENOENT$/);
    expect(() => resolveServeOptions({}, { ACCORD_CA_KEK_FILE: file('empty', ' \n') })).toThrow(/ACCORD_CA_KEK_FILE: .*empty is empty/);
    expect(() => resolveServeOptions({}, { ACCORD_CA_KEK_FILE: file('two', 'one\ntwo\n') })).toThrow(/must hold one value on one line/);
  });

  it('the drain period is 10 s by default (--drain-period or --drain-seconds), streams then close over 5 s; the test override stops at once', () => {
    expect(resolveServeOptions({}, {})).toMatchObject({ drainPeriodMs: 10_000, drainCloseWindowMs: 5_000, shutdownGraceMs: 5_000 });
    expect(resolveServeOptions({ drainSeconds: '25' }, {}).drainPeriodMs).toBe(25_000);
    expect(resolveServeOptions({}, { ACCORD_DRAIN_SECONDS: '3' }).drainPeriodMs).toBe(3000);
    expect(resolveServeOptions({ drainPeriod: '1m', drainCloseWindow: '20s' }, { ACCORD_DRAIN_SECONDS: '3' })).toMatchObject({ drainPeriodMs: 60_000, drainCloseWindowMs: 20_000 });
    expect(resolveServeOptions({}, { ACCORD_DRAIN_SECONDS: '3', ACCORD_SHUTDOWN_GRACE_MS: '200' })).toMatchObject({ drainPeriodMs: 0, drainCloseWindowMs: 0, shutdownGraceMs: 200 });
    expect(() => resolveServeOptions({ drainSeconds: 'soon' }, {})).toThrow('--drain-seconds: "soon" is not a whole number of seconds (0-3600)');
    expect(() => resolveServeOptions({ drainPeriod: 'soon' }, {})).toThrow(/--drain-period: expected a duration/);
  });

  it('the maximum xDS connection age is 30 min by default; 0 turns it off', () => {
    expect(resolveServeOptions({}, {}).maxConnectionAgeMs).toBe(1_800_000);
    expect(resolveServeOptions({ maxConnectionAge: '5m' }, {}).maxConnectionAgeMs).toBe(300_000);
    expect(resolveServeOptions({}, { ACCORD_MAX_CONNECTION_AGE: '0s' }).maxConnectionAgeMs).toBe(0);
  });

  it('the lease reconnect window is a duration, 30 s by default', () => {
    expect(resolveServeOptions({}, {}).leaseReconnectWindowMs).toBe(30_000);
    expect(resolveServeOptions({ leaseReconnectWindow: '1m30s' }, {}).leaseReconnectWindowMs).toBe(90_000);
    expect(resolveServeOptions({}, { ACCORD_LEASE_RECONNECT_WINDOW: '500ms' }).leaseReconnectWindowMs).toBe(500);
    expect(() => resolveServeOptions({}, { ACCORD_LEASE_RECONNECT_WINDOW: 'forever' })).toThrow(/--lease-reconnect-window: expected a duration.*"forever"/);
  });

  it('issuance workers: 1 on a machine with 2+ CPUs, 0 on one; a whole number from 0 to 64', () => {
    expect(resolveServeOptions({}, {}).issuanceWorkers).toBe(availableParallelism() > 1 ? 1 : 0);
    expect(resolveServeOptions({ issuanceWorkers: '0' }, {}).issuanceWorkers).toBe(0);
    expect(resolveServeOptions({}, { ACCORD_ISSUANCE_WORKERS: '4' }).issuanceWorkers).toBe(4);
    for (const bad of ['-1', '65', '1.5', 'two', ' ']) {
      expect(() => resolveServeOptions({ issuanceWorkers: bad }, {}), bad).toThrow(`--issuance-workers: "${bad}" is not a whole number from 0 to 64`);
    }
  });
});
