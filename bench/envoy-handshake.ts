/**
 * Handshake overhead through two real Envoy sidecars.
 *
 * One TCP service, payments (an echo app on 127.0.0.1 behind its sidecar, inbound on 127.0.0.3),
 * and one caller, orders (sidecar with an outbound listener for payments). Because payments
 * speaks TCP, orders' outbound listener is a TCP proxy: every client connection becomes a new
 * connection from orders' Envoy to payments' Envoy, with a full mTLS handshake (STRICT), then a
 * new connection from payments' Envoy to the app.
 *   mTLS path:  client → orders' Envoy outbound (Accord's config) → mTLS → payments' Envoy inbound (Accord's) → app
 *   plain path: client → orders' Envoy static TCP proxy → plain TCP → payments' Envoy static TCP proxy → app
 * The plain path runs in the same two Envoy processes (static listeners added to the bootstraps),
 * so the difference between the two is the mTLS handshake and encryption: the limit measured in
 * the same run. One sample = connect, write one line, read its echo, close; the two paths
 * alternate sample by sample so load on the machine hits both alike.
 * Flags: --quick (300 samples per path), --samples N (default 3000).
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { freePort } from './support/accord-process.js';
import { BenchMesh, percentile, staticTcpProxy, withStatic } from './support/envoy-mesh.js';
import { argNumber } from './support/args.js';

const SEED_LIMIT_MS = 50;
const TARGET_P99_MS = 5;
const PAYMENTS_ADDRESS = '127.0.0.3';
const ORDERS_ADDRESS = '127.0.0.2';

function echoServer(): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((socket) => {
      socket.on('error', () => socket.destroy());
      socket.pipe(socket);
    });
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0 });
    });
  });
}

/** One connection: connect, send a line, wait for its echo; milliseconds, or an Error. */
export function roundTrip(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket: Socket = connect({ port, host });
    let received = '';
    const timer = setTimeout(() => socket.destroy(new Error(`no echo within ${timeoutMs} ms`)), timeoutMs);
    socket.once('connect', () => socket.write('ping\n'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.includes('\n')) {
        const elapsed = performance.now() - started;
        clearTimeout(timer);
        socket.destroy();
        resolve(elapsed);
      }
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.once('close', () => {
      clearTimeout(timer);
      if (!received.includes('\n')) reject(new Error('closed before the echo'));
    });
  });
}

async function until(what: string, check: () => Promise<unknown>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      await check();
      return;
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  throw new Error(`timed out waiting for ${what}: ${String(last)}`);
}

function summary(samples: number[]): { p50: number; p99: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN };
}

export async function run(argv: string[]): Promise<void> {
  const samples = argv.includes('--quick') ? 300 : argNumber(argv, 'samples', 3000);
  const app = await echoServer();
  const mesh = await BenchMesh.start();
  try {
    const [paymentsMesh, ordersMesh, outbound, plainOut, plainIn] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const payments = await mesh.register({ service: 'payments', address: PAYMENTS_ADDRESS, port: app.port, meshPort: paymentsMesh, protocol: 'tcp' });
    const orders = await mesh.register({ service: 'orders', address: ORDERS_ADDRESS, port: 1, meshPort: ordersMesh, upstreams: [{ service: 'payments', localPort: outbound }] });
    await mesh.startEnvoy('payments', withStatic(await mesh.bootstrap(payments), [staticTcpProxy('bench-plain-in', { address: PAYMENTS_ADDRESS, port: plainIn }, { address: '127.0.0.1', port: app.port })]));
    await mesh.startEnvoy('orders', withStatic(await mesh.bootstrap(orders), [staticTcpProxy('bench-plain-out', { address: '127.0.0.1', port: plainOut }, { address: PAYMENTS_ADDRESS, port: plainIn })]));
    await until('the mTLS path to echo', () => roundTrip(outbound));
    await until('the plain path to echo', () => roundTrip(plainOut));
    const [paymentsEnvoy] = mesh.envoys;
    for (let i = 0; i < 50; i++) {
      await roundTrip(outbound);
      await roundTrip(plainOut);
    }
    const handshakesBefore = await paymentsEnvoy.admin.stats('ssl\\.handshake$');
    const mtls: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < samples; i++) {
      if (i % 2 === 0) {
        mtls.push(await roundTrip(outbound));
        plain.push(await roundTrip(plainOut));
      } else {
        plain.push(await roundTrip(plainOut));
        mtls.push(await roundTrip(outbound));
      }
    }
    const handshakesAfter = await paymentsEnvoy.admin.stats('ssl\\.handshake$');
    const handshakes = [...handshakesAfter].filter(([name]) => name.startsWith('listener.')).reduce((sum, [name, value]) => sum + value - (handshakesBefore.get(name) ?? 0), 0);

    const m = summary(mtls);
    const p = summary(plain);
    const overhead = { p50: m.p50 - p.p50, p99: m.p99 - p.p99 };
    const fmt = (v: number): string => `${v.toFixed(2)} ms`;
    console.log(`envoy-handshake: ${samples} new connections per path through two Envoy ${mesh.binary.version} sidecars (one worker each)`);
    console.log(`payments' Envoy counted ${handshakes} inbound TLS handshakes during the measured run (one per mTLS sample, none for plain)`);
    console.log('| path | p50 | p99 | max |');
    console.log('| --- | --- | --- | --- |');
    console.log(`| mTLS (Accord config, new handshake per connection) | ${fmt(m.p50)} | ${fmt(m.p99)} | ${fmt(m.max)} |`);
    console.log(`| plain TCP, same two Envoys (limit) | ${fmt(p.p50)} | ${fmt(p.p99)} | ${fmt(p.max)} |`);
    console.log(`| overhead of mTLS | ${fmt(overhead.p50)} | ${fmt(overhead.p99)} | |`);
    console.log(
      `p99 overhead ${fmt(overhead.p99)}: seed limit ${SEED_LIMIT_MS} ms ${overhead.p99 < SEED_LIMIT_MS ? 'met' : 'MISSED'}, ` +
        `target ≤ ${TARGET_P99_MS} ms ${overhead.p99 <= TARGET_P99_MS ? 'met' : 'MISSED'}; ratio mTLS/plain p50 ${(m.p50 / p.p50).toFixed(2)}, p99 ${(m.p99 / p.p99).toFixed(2)}`,
    );
    console.log(
      JSON.stringify({
        bench: 'envoy-handshake',
        envoy: mesh.binary.version,
        samples,
        mtls: m,
        plain: p,
        overhead,
        handshakes,
        seedLimitMs: SEED_LIMIT_MS,
        targetP99Ms: TARGET_P99_MS,
        loadavg: (await import('node:os')).loadavg()[0],
      }),
    );
  } finally {
    await mesh.stop();
    app.server.close();
  }
}
