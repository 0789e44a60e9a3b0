/**
 * Concurrent mTLS connections held through one pair of real Envoy sidecars.
 *
 * payments is a TCP service (echo app behind its sidecar, STRICT mTLS); orders' sidecar has an
 * outbound TCP-proxy listener for it, so each client connection is one mTLS connection from
 * orders' Envoy to payments' Envoy and one plain connection from there to the app. A client in
 * its own process (bench/workers/hold-connections.ts) opens N connections (each must echo a line),
 * holds them all, then checks that every one still echoes. Reported: failed connections (must be
 * 0), the RSS of each Envoy and of the control plane idle and with N held, and Envoy's own counts.
 *
 * Each sidecar holds two sockets per connection (downstream and upstream), so N is bounded by the
 * open-file limit every process here inherits: N ≤ (hard limit − 200) / 2. Node raises its soft
 * limit to the hard one at start; the hard limit can only be raised with CAP_SYS_RESOURCE, so when
 * it is too low for N the bench says so and runs with the largest N it allows.
 * Flags: --quick (1,000 connections), --connections N (default 10,000), --in-flight K (default 200).
 */
import { fork } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { freePort } from './support/accord-process.js';
import { BenchMesh, openFileLimit, rssMb } from './support/envoy-mesh.js';
import { argNumber } from './support/args.js';
import { roundTrip } from './envoy-handshake.js';

const SEED_CONNECTIONS = 10_000;
const FD_SLACK = 200;

interface Tally {
  phase: 'open' | 'check';
  ok: number;
  failed: number;
  errors: Record<string, number>;
  ms: number;
}

function echoServer(): Promise<{ server: Server; port: number; active: () => number }> {
  let active = 0;
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      active++;
      socket.on('close', () => active--);
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    });
    server.maxConnections = 1_000_000;
    server.once('error', reject);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, active: () => active });
    });
  });
}

export async function run(argv: string[]): Promise<void> {
  const wanted = argv.includes('--quick') ? 1000 : argNumber(argv, 'connections', SEED_CONNECTIONS);
  const inFlight = argNumber(argv, 'in-flight', 200);
  const limit = openFileLimit();
  const allowed = Math.floor((limit.hard - FD_SLACK) / 2);
  const n = Math.min(wanted, allowed);
  if (n < wanted) {
    console.log(
      `open-file limit: hard RLIMIT_NOFILE is ${limit.hard} here (not raisable without CAP_SYS_RESOURCE); each sidecar needs ` +
        `2 sockets per connection + ${FD_SLACK}, so this run holds ${n} connections, not ${wanted}`,
    );
  }
  const app = await echoServer();
  const mesh = await BenchMesh.start();
  try {
    const [paymentsMesh, ordersMesh, outbound] = await Promise.all([freePort(), freePort(), freePort()]);
    // Envoy's default circuit breaker allows 1024 connections per cluster; the caller's side is
    // configured the way an operator would, with a TrafficPolicy.
    await mesh.apply([
      { apiVersion: 'accord.dev/v1', kind: 'TrafficPolicy', metadata: { name: 'payments', namespace: 'default' }, spec: { target: 'payments', circuitBreakers: { maxConnections: 1_000_000 } } },
    ]);
    const payments = await mesh.register({ service: 'payments', address: '127.0.0.3', port: app.port, meshPort: paymentsMesh, protocol: 'tcp' });
    const orders = await mesh.register({ service: 'orders', address: '127.0.0.2', port: 1, meshPort: ordersMesh, upstreams: [{ service: 'payments', localPort: outbound }] });
    const paymentsEnvoy = await mesh.startEnvoy('payments', await mesh.bootstrap(payments));
    const ordersEnvoy = await mesh.startEnvoy('orders', await mesh.bootstrap(orders));
    const deadline = Date.now() + 120_000;
    for (;;) {
      try {
        await roundTrip(outbound);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`the mTLS path never echoed: ${String(error)}`, { cause: error });
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    const rss = (): Record<string, number> => ({ ordersEnvoy: rssMb(ordersEnvoy.pid), paymentsEnvoy: rssMb(paymentsEnvoy.pid), controlPlane: rssMb(mesh.accord.pid) });
    const idle = rss();
    const handshakesBefore = (await paymentsEnvoy.admin.stats('^listener\\..*ssl\\.handshake$'));

    const worker = fork(fileURLToPath(new URL('./workers/hold-connections.js', import.meta.url)), [String(outbound), String(n), String(inFlight)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const messages: Tally[] = [];
    const next = (): Promise<Tally> =>
      new Promise((resolve, reject) => {
        const onMessage = (message: Tally): void => {
          worker.off('exit', onExit);
          resolve(message);
        };
        const onExit = (code: number | null): void => reject(new Error(`the client process exited (${code})`));
        worker.once('message', onMessage);
        worker.once('exit', onExit);
      });
    const opened = await next();
    messages.push(opened);
    const held = rss();
    const appActive = app.active();
    const ordersStats = await ordersEnvoy.admin.stats('(downstream_cx_active|upstream_cx_active|upstream_cx_overflow|downstream_cx_overflow)$');
    const paymentsStats = await paymentsEnvoy.admin.stats('(downstream_cx_active|upstream_cx_active|upstream_cx_overflow|ssl\\.handshake|ssl\\.connection_error)$');
    worker.send('check');
    const checked = await next();
    messages.push(checked);
    worker.send('close');
    await new Promise((r) => worker.once('exit', r));

    const handshakes = [...paymentsStats].filter(([name]) => /^listener\..*ssl\.handshake$/.test(name)).reduce((sum, [name, value]) => sum + value - (handshakesBefore.get(name) ?? 0), 0);
    const interesting = (stats: Map<string, number>): Record<string, number> =>
      Object.fromEntries([...stats].filter(([name, value]) => value > 0 && !name.startsWith('cluster.accord-xds') && !name.startsWith('listener.admin') && !name.startsWith('http.admin')));
    const mb = (v: number): string => `${v.toFixed(1)} MB`;
    const perConnKb = (key: string): string => `${(((held[key] ?? 0) - (idle[key] ?? 0)) * 1024 / n).toFixed(1)} KB`;
    console.log(`envoy-connections: ${n} concurrent connections through one Envoy ${mesh.binary.version} sidecar pair (one worker each), opened ${inFlight} at a time`);
    console.log(`opened: ${opened.ok} ok, ${opened.failed} failed in ${(opened.ms / 1000).toFixed(1)} s ${opened.failed ? JSON.stringify(opened.errors) : ''}`);
    console.log(`held, every one echoed again: ${checked.ok} ok, ${checked.failed} failed ${checked.failed ? JSON.stringify(checked.errors) : ''}`);
    console.log(`app saw ${appActive} active connections; payments' Envoy completed ${handshakes} inbound mTLS handshakes`);
    console.log('| process | RSS idle | RSS with all held | per connection |');
    console.log('| --- | --- | --- | --- |');
    for (const key of ['ordersEnvoy', 'paymentsEnvoy', 'controlPlane']) console.log(`| ${key} | ${mb(idle[key] ?? NaN)} | ${mb(held[key] ?? NaN)} | ${perConnKb(key)} |`);
    console.log(`orders' Envoy: ${JSON.stringify(interesting(ordersStats))}`);
    console.log(`payments' Envoy: ${JSON.stringify(interesting(paymentsStats))}`);
    const failed = opened.failed + checked.failed;
    console.log(`failed connections: ${failed} (required 0); ${n >= SEED_CONNECTIONS ? 'seed requirement of 10,000 met' : n < wanted ? 'seed requirement of 10,000 NOT reached on this machine (open-file limit)' : `${n} asked for (seed requirement: 10,000)`}`);
    console.log(JSON.stringify({ bench: 'envoy-connections', envoy: mesh.binary.version, connections: n, wanted, openFileHardLimit: limit.hard, opened, checked, appActive, handshakes, rssIdleMb: idle, rssHeldMb: held, loadavg: loadavg()[0] }));
    if (failed > 0) process.exitCode = 1;
  } finally {
    await mesh.stop();
    app.server.close();
  }
}
