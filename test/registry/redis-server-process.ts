import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export { freePort } from '../../bench/support/accord-process.js';
import { freePort } from '../../bench/support/accord-process.js';

/** A private redis-server for fault tests: AOF with fsync on every write, so a crash loses nothing. */
export class RedisServerProcess {
  private child: ChildProcess | undefined;
  dir: string;

  private constructor(
    readonly port: number,
    readonly password?: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'accord-redis-'));
  }

  /** With a password, the server requires it (`requirepass`). */
  static async start(options: { password?: string } = {}): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freePort(), options.password);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (again) on the same port and data directory. */
  async restart(): Promise<void> {
    this.child = spawn(
      'redis-server',
      [
        '--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.dir,
        ...(this.password === undefined ? [] : ['--requirepass', this.password]),
      ],
      { stdio: 'ignore' },
    );
    await waitForPing(this.port, this.password);
  }

  /** Hard crash: SIGKILL, no shutdown work. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
    this.child = undefined;
  }

  /** Freezes the server (SIGSTOP): connections stay open but nothing answers, like a partition. */
  pause(): void {
    this.child?.kill('SIGSTOP');
  }

  resume(): void {
    this.child?.kill('SIGCONT');
  }

  /** Throws away the data directory: the next restart comes up empty. */
  wipeData(): void {
    rmSync(this.dir, { recursive: true, force: true });
    this.dir = mkdtempSync(join(tmpdir(), 'accord-redis-'));
  }

  async destroy(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function waitForPing(port: number, password?: string): Promise<void> {
  const probe = new Redis(port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, password });
  probe.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      probe.disconnect();
      return;
    } catch (err) {
      probe.disconnect();
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A free port whose cluster bus port (port + 10000) is free too. Ephemeral ports would not do:
 * above 55535 the bus port does not exist.
 */
async function freeClusterPort(taken: readonly number[]): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.includes(port)) continue;
    if ((await canBind(port)) && (await canBind(port + 10_000))) return port;
  }
}

/** A private three-master Redis Cluster on free ports. */
export class RedisClusterProcess {
  private constructor(
    readonly ports: readonly number[],
    private readonly children: readonly ChildProcess[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisClusterProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'accord-cluster-'));
    const ports: number[] = [];
    for (let i = 0; i < 3; i++) ports.push(await freeClusterPort(ports));
    const children = ports.map((port) =>
      spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: 'ignore' },
      ),
    );
    const cluster = new RedisClusterProcess(ports, children, dir);
    try {
      for (const port of ports) await waitForPing(port);
      await new Promise<void>((resolve, reject) =>
        execFile(
          'redis-cli',
          ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
          (err) => (err ? reject(err) : resolve()),
        ),
      );
      const admin = new Redis(ports[0] ?? 0, '127.0.0.1');
      const deadline = Date.now() + 20_000;
      while (!(await admin.cluster('INFO')).includes('cluster_state:ok')) {
        if (Date.now() > deadline) throw new Error('cluster did not become ok');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      admin.disconnect();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  get nodes(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  async destroy(): Promise<void> {
    await Promise.all(
      this.children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A private master plus one Sentinel monitoring it as `mymaster`. */
export class RedisSentinelProcess {
  private constructor(
    readonly master: RedisServerProcess,
    readonly sentinelPort: number,
    private readonly sentinel: ChildProcess,
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisSentinelProcess> {
    const master = await RedisServerProcess.start();
    const dir = mkdtempSync(join(tmpdir(), 'accord-sentinel-'));
    const sentinelPort = await freePort();
    const config = join(dir, 'sentinel.conf');
    writeFileSync(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        'sentinel down-after-milliseconds mymaster 5000',
        '',
      ].join('\n'),
    );
    const sentinel = spawn('redis-server', [config, '--sentinel'], { stdio: 'ignore' });
    const started = new RedisSentinelProcess(master, sentinelPort, sentinel, dir);
    try {
      await waitForPing(sentinelPort);
    } catch (err) {
      await started.destroy();
      throw err;
    }
    return started;
  }

  get url(): string {
    return `redis-sentinel://127.0.0.1:${this.sentinelPort}/mymaster`;
  }

  async destroy(): Promise<void> {
    await new Promise<void>((resolve) => {
      if (this.sentinel.exitCode !== null) return resolve();
      this.sentinel.once('exit', () => resolve());
      this.sentinel.kill('SIGKILL');
    });
    rmSync(this.dir, { recursive: true, force: true });
    await this.master.destroy();
  }
}
