// Issue #9 item 4: the agent's local xDS proxy listened on 127.0.0.1:15010, so any local user could
// connect and be served the workload's freshly issued private key over SDS. By default it now
// serves a Unix socket only its owner can open (mode 0600) and writes bootstrap.json pointing at it;
// TCP (loopback only) is opened only when asked for, with a warning.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, readlink, rm, stat, chmod, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { parseListenAddress } from '../../src/agent/listen-address.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { capturedLogger } from '../support/captured-logger.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

const codec = new XdsCodec(loadEnvoyProtos());

/** Inodes of the TCP sockets this process is listening on (from /proc), to see what a step opened. */
async function listeningTcpInodes(): Promise<Set<string>> {
  const mine = new Set<string>();
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode) mine.add(inode);
  }
  const listening = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // st 0A is LISTEN; field 9 is the inode.
      if (fields[3] === '0A' && fields[9] && mine.has(fields[9])) listening.add(fields[9]);
    }
  }
  return listening;
}

/** Tries to connect to a Unix socket as user nobody; resolves with the error code, or 'connected'. */
function connectAsNobody(socketPath: string): Promise<string> {
  const script = `require('net').connect(${JSON.stringify(socketPath)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(0); });`;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { uid: 65534, gid: 65534, cwd: '/' }, (error, stdout) => (error ? reject(error) : resolve(stdout.trim())));
  });
}

describe('accord agent: local xDS proxy on a Unix socket', () => {
  let accord: TestAccord;
  let token: string;
  let workloadId: string;
  const cleanup: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    accord = await startTestAccord();
    const registered = (await api(accord, 'POST', '/v1/workloads', { body: { service: 'orders', address: '127.0.0.1', port: 8080, protocol: 'grpc' } })).body as { id: string; token: string };
    token = registered.token;
    workloadId = registered.id;
  });
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
    await accord.close();
  });

  async function startAgent(listen?: string): Promise<{ agent: Agent; dir: string; lines: string[] }> {
    const dir = await mkdtemp(path.join(tmpdir(), 'accord-agent-'));
    const { logger, lines } = capturedLogger('info');
    const agent = new Agent({ token, servers: [accord.http], xds: [accord.xds], outDir: dir, logger, ...(listen ? { listen: listen.replace('DIR', dir) } : {}) });
    cleanup.push(async () => {
      await agent.close();
      await rm(dir, { recursive: true, force: true });
    });
    await agent.start();
    return { agent, dir, lines };
  }

  it('by default serves unix:<out>/xds.sock with mode 0600, opens no TCP port, and bootstrap.json points at it', async () => {
    const before = await listeningTcpInodes();
    const { agent, dir, lines } = await startAgent();
    const socketPath = path.join(dir, 'xds.sock');
    expect(agent.listenAddress).toBe(`unix:${socketPath}`);
    const info = await stat(socketPath);
    expect(info.isSocket()).toBe(true);
    expect((info.mode & 0o777).toString(8)).toBe('600');
    const after = await listeningTcpInodes();
    expect([...after].filter((inode) => !before.has(inode)), 'TCP listeners the agent opened').toEqual([]);
    const bootstrap = JSON.parse(await readFile(path.join(dir, 'bootstrap.json'), 'utf8')) as { xds_servers: { server_uri: string }[] };
    expect(bootstrap.xds_servers[0]?.server_uri).toBe(`unix:${socketPath}`);
    expect(lines.some((line) => line.includes('local xDS proxy on TCP'))).toBe(false);

    // A client of the socket is served the workload's configuration through the proxy.
    const client = new XdsTestClient(`unix:${socketPath}`, codec);
    try {
      const stream = client.sotw();
      stream.send({ node: { id: workloadId, user_agent_name: 'grpc-node-js', locality: { zone: 'z' } }, type_url: TypeUrl.Listener, resource_names: [] });
      const listeners = await stream.nextOfType(TypeUrl.Listener, 20_000);
      expect(listeners.resources.length).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });

  it('another local user cannot connect to the socket, even in a directory anyone can enter', async () => {
    const shared = await mkdtemp(path.join(tmpdir(), 'accord-shared-'));
    await chmod(shared, 0o755);
    cleanup.push(() => rm(shared, { recursive: true, force: true }));
    const socketPath = path.join(shared, 'xds.sock');
    await startAgent(`unix:${socketPath}`);
    expect((await stat(socketPath)).mode & 0o777).toBe(0o600);
    expect(await connectAsNobody(socketPath)).toBe('EACCES');
  });

  it('a stale socket from an earlier run is replaced; a file that is not a socket is not', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'accord-stale-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    // What a crashed agent leaves behind: a bound socket file nobody listens on.
    const stale = path.join(dir, 'xds.sock');
    await new Promise<void>((resolve, reject) =>
      execFile('python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`], (error) => (error ? reject(error) : resolve())),
    );
    expect((await stat(stale)).isSocket()).toBe(true);
    const { agent } = await startAgent(`unix:${stale}`);
    expect(agent.listenAddress).toBe(`unix:${stale}`);
    expect((await stat(stale)).mode & 0o777).toBe(0o600);
    await mkdir(path.join(dir, 'not-a-socket'));
    await expect(startAgent(`unix:${dir}/not-a-socket`)).rejects.toThrow(/not a socket/);
  });

  it('opens a TCP listener only when asked, on loopback only, and warns', async () => {
    const before = await listeningTcpInodes();
    const { agent, lines } = await startAgent('127.0.0.1:0');
    expect(agent.listenAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    const opened = [...(await listeningTcpInodes())].filter((inode) => !before.has(inode));
    expect(opened).toHaveLength(1);
    expect(lines.find((line) => line.includes('local xDS proxy on TCP'))).toContain('"level":40');
    expect(() => parseListenAddress('0.0.0.0:15010', '/tmp/x')).toThrow(/not a loopback address/);
    expect(() => parseListenAddress('10.1.2.3:15010', '/tmp/x')).toThrow(/not a loopback address/);
    expect(() => parseListenAddress(`unix:/tmp/${'x'.repeat(120)}`, '/tmp/x')).toThrow(/longer than 107 bytes/);
    expect(parseListenAddress('[::1]:0', '/tmp/x')).toEqual({ kind: 'tcp', host: '::1', port: 0 });
  });
});
