import { describe, expect, it } from 'vitest';
import { describeTarget, parseRedisUrl, reconnectDelayMs, redactUrl, withPassword } from '../../src/registry/redis-connection.js';

describe('parseRedisUrl', () => {
  it('passes redis:// and rediss:// through to ioredis', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379/2')).toBe('redis://127.0.0.1:6379/2');
    expect(parseRedisUrl('rediss://user:pw@redis.example:6380')).toBe('rediss://user:pw@redis.example:6380');
  });

  it('reads Sentinel URLs', () => {
    expect(parseRedisUrl('redis-sentinel://:s3cret@s1:26379,s2,[::1]:26380/mymaster?db=3')).toEqual({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
        { host: '::1', port: 26380 },
      ],
      name: 'mymaster',
      password: 's3cret',
      sentinelPassword: 's3cret',
      db: 3,
    });
    expect(() => parseRedisUrl('redis-sentinel://s1:26379')).toThrow(/master name/);
  });

  it('reads Cluster URLs', () => {
    expect(parseRedisUrl('redis-cluster://n1:7000,n2')).toEqual({
      cluster: { nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 6379 }], options: {} },
    });
  });

  it('carries an ACL user and TLS for Sentinel (Sentinels and master) and Cluster (every node)', () => {
    expect(parseRedisUrl('rediss-sentinel://accord:p%40ss@s1:26379,s2:26380/mymaster?db=2')).toEqual({
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26380 },
      ],
      name: 'mymaster',
      username: 'accord',
      password: 'p@ss',
      sentinelUsername: 'accord',
      sentinelPassword: 'p@ss',
      db: 2,
      tls: {},
      enableTLSForSentinelMode: true,
      sentinelTLS: {},
    });
    // Plain-TCP Sentinels in front of a TLS master.
    expect(parseRedisUrl('rediss-sentinel://s1/m?sentinelTls=false')).toEqual({
      sentinels: [{ host: 's1', port: 26379 }],
      name: 'm',
      tls: {},
      enableTLSForSentinelMode: true,
    });
    expect(parseRedisUrl('redis-sentinel://accord@s1/m')).toEqual({ sentinels: [{ host: 's1', port: 26379 }], name: 'm', username: 'accord', sentinelUsername: 'accord' });
    expect(parseRedisUrl('rediss-cluster://accord:pw@n1:7000,n2')).toEqual({
      cluster: { nodes: [{ host: 'n1', port: 7000 }, { host: 'n2', port: 6379 }], options: { redisOptions: { username: 'accord', password: 'pw', tls: {} } } },
    });
    expect(parseRedisUrl('redis-cluster://accord:pw@n1')).toEqual({
      cluster: { nodes: [{ host: 'n1', port: 6379 }], options: { redisOptions: { username: 'accord', password: 'pw' } } },
    });
    // A password kept apart from the URL keeps the user and TLS.
    expect(withPassword('rediss-cluster://accord@n1', 'pw')).toEqual({
      cluster: { nodes: [{ host: 'n1', port: 6379 }], options: { redisOptions: { username: 'accord', tls: {}, password: 'pw' } } },
    });
    expect(withPassword('rediss-sentinel://accord@s1/m', 'pw')).toMatchObject({ username: 'accord', sentinelUsername: 'accord', password: 'pw', sentinelPassword: 'pw', tls: {}, sentinelTLS: {} });
    expect(describeTarget(parseRedisUrl('rediss-sentinel://s1/m') as Exclude<ReturnType<typeof parseRedisUrl>, string>)).toBe('sentinel(m, tls)');
  });

  it('refuses unknown parameters and bad values precisely', () => {
    expect(() => parseRedisUrl('redis-sentinel://s1/m?tls=yes')).toThrow('unknown URL parameter "tls" for redis-sentinel:// (known: db, sentinelTls)');
    expect(() => parseRedisUrl('redis-cluster://n1?db=1')).toThrow('unknown URL parameter "db" for redis-cluster:// (known: none)');
    expect(() => parseRedisUrl('redis-sentinel://s1/m?db=x')).toThrow('db "x" is not a database number');
    expect(() => parseRedisUrl('rediss-sentinel://s1/m?sentinelTls=maybe')).toThrow('sentinelTls must be true or false');
  });

  it('refuses other schemes without echoing passwords', () => {
    expect(() => parseRedisUrl('http://user:pw@x')).toThrow(/unsupported URL scheme in "http:\/\/\*\*\*@x"/);
  });
});

describe('connection helpers', () => {
  it('redacts credentials and describes targets', () => {
    expect(redactUrl('redis://user:pw@host:6379')).toBe('redis://***@host:6379');
    expect(describeTarget({ sentinels: [{ host: 'a', port: 1 }], name: 'm' })).toBe('sentinel(m)');
    expect(describeTarget({ cluster: { nodes: [{ host: 'a', port: 1 }] } })).toBe('cluster(1 seed nodes)');
  });

  it('backs off exponentially up to 2 s', () => {
    expect(reconnectDelayMs(1)).toBe(100);
    expect(reconnectDelayMs(3)).toBe(400);
    expect(reconnectDelayMs(50)).toBe(2000);
  });
});

describe('withPassword (a password kept apart from the URL)', () => {
  it('sets it on a redis:// URL, for the Sentinels and the master, and for every Cluster node', () => {
    expect(withPassword('redis://redis:6379/1', 'p@ss word')).toBe('redis://:p%40ss%20word@redis:6379/1');
    expect(withPassword('redis://:old@redis:6379', 'new')).toBe('redis://:new@redis:6379');
    expect(withPassword('redis-sentinel://s1:26379,s2:26379/mymaster', 'pw')).toEqual({
      sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }],
      name: 'mymaster',
      password: 'pw',
      sentinelPassword: 'pw',
    });
    expect(withPassword('redis-cluster://n1:6379', 'pw')).toEqual({ cluster: { nodes: [{ host: 'n1', port: 6379 }], options: { redisOptions: { password: 'pw' } } } });
  });
});
