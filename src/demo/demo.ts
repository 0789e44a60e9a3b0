/**
 * `accord demo`: a local mesh in one command. The control plane (`accord serve`, embedded default,
 * temporary data dir), three demo apps on 127.0.0.x (orders, payments, and intruder, which may
 * not call payments), each behind its own real Envoy sidecar started from its `accord bootstrap`,
 * and an ingress gateway with its own Envoy serving https://localhost:<port>/ (a self-signed
 * certificate generated into the temp dir) routed to orders over mesh mTLS. It prints what runs
 * where, the URL and the commands to try, then runs until SIGINT/SIGTERM and stops every process
 * it started.
 */
import { accessSync, constants, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { keepAliveClock, sleep } from '../core/clock.js';
import { EnvoyProcess, type EnvoyBinary } from '../envoy/index.js';
import { startCallerApp, startPaymentsApp, type DemoApp } from './apps.js';
import { DemoControlPlane } from './control-plane.js';
import { freePortOn } from './ports.js';
import { writeSelfSignedCertificate } from './user-certificate.js';

/** The gateway's service name and the user certificate it serves (Gateway API names, namespace default). */
const GATEWAY = 'edge';
const GATEWAY_CERTIFICATE = 'localhost-cert';
const GATEWAY_HOST = 'localhost';
export const GATEWAY_IDENTITY = `spiffe://mesh.local/ns/default/sa/${GATEWAY}`;

/** The demo's policies; the gateway's HTTPS listener is on `gatewayPort` (127.0.0.1). */
export function demoPolicies(gatewayPort: number): string {
  return `apiVersion: accord.dev/v1
kind: Mesh
metadata: { name: default }
spec:
  trustDomain: mesh.local
  mtls: STRICT
---
apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: payments-callers, namespace: default }
spec:
  target: payments
  action: ALLOW
  rules:
    - from: [{ service: orders }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: ${GATEWAY}, namespace: default }
spec:
  gatewayClassName: accord
  listeners:
    - { name: https, port: ${gatewayPort}, protocol: HTTPS, tls: { certificateRefs: [{ name: ${GATEWAY_CERTIFICATE} }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: orders-page, namespace: default }
spec:
  parentRefs: [{ name: ${GATEWAY} }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: / } }]
      backendRefs: [{ name: orders }]
`;
}

/** How long the demo waits for the sidecars to carry the first allowed and denied calls. */
const CONVERGE_TIMEOUT_MS = 120_000;

interface Sidecar {
  readonly service: string;
  readonly address: string;
  readonly meshPort: number;
  /** The outbound listener for payments (127.0.0.1), for callers. */
  readonly outboundPort?: number;
  readonly envoy: EnvoyProcess;
}

export interface DemoIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

/** Everything the demo started, stopped in reverse order. */
class Running {
  apps: DemoApp[] = [];
  sidecars: Sidecar[] = [];
  gateway: EnvoyProcess | undefined;
  controlPlane: DemoControlPlane | undefined;

  private get envoys(): EnvoyProcess[] {
    return [...this.sidecars.map((sidecar) => sidecar.envoy), ...(this.gateway ? [this.gateway] : [])];
  }

  /** For a process 'exit' handler: nothing may be left behind even on an unexpected exit. */
  killAll(): void {
    for (const envoy of this.envoys) envoy.kill();
    this.controlPlane?.kill();
  }

  async stop(): Promise<void> {
    await Promise.all(this.apps.map((app) => app.close()));
    await Promise.all(this.envoys.map((envoy) => envoy.stop()));
    await this.controlPlane?.stop();
  }
}

/** `accord` when it is on PATH, else this checkout's built CLI run by node. */
function accordCommand(cliMain: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    try {
      accessSync(path.join(dir, 'accord'), constants.X_OK);
      return 'accord';
    } catch {
      // not here
    }
  }
  return `node ${cliMain}`;
}

async function callStatus(url: string): Promise<number> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  await response.arrayBuffer();
  return response.status;
}

/** The status of `GET /` at the gateway, trusting only its self-signed certificate (`ca`). */
function gatewayStatus(port: number, ca: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      { host: '127.0.0.1', port, servername: GATEWAY_HOST, headers: { host: `${GATEWAY_HOST}:${port}` }, path: '/', ca, agent: false, timeout: 10_000 },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.once('timeout', () => req.destroy(new Error('the gateway did not answer within 10000 ms')));
    req.once('error', reject);
    req.end();
  });
}

export interface DemoRun {
  /** Resolves once the demo has stopped; the exit code. */
  readonly done: Promise<number>;
}

/**
 * Starts the demo and keeps it running until `stopSignal` resolves (the CLI resolves it on
 * SIGINT/SIGTERM) or a process of the demo dies.
 */
/** The calls the demo makes on the control plane's HTTP API (the CLI's client is one). */
export interface DemoApi {
  json<T>(method: string, path: string, body?: { json?: unknown; text?: string; contentType?: string }): Promise<T>;
  text(method: string, path: string): Promise<string>;
}

export async function runDemo(
  envoy: EnvoyBinary,
  cliMain: string,
  io: DemoIo,
  stopSignal: Promise<string>,
  connect: (server: string, token: string) => DemoApi,
): Promise<number> {
  const running = new Running();
  const onExit = (): void => running.killAll();
  process.once('exit', onExit);
  const workDir = mkdtempSync(path.join(tmpdir(), 'accord-demo-'));
  let stopping: string | undefined;
  void stopSignal.then((signal) => {
    stopping = signal;
  });
  /** Stops every process; the logs stay (and their directory is named) when the demo failed. */
  const cleanUp = async (failed: boolean): Promise<void> => {
    await running.stop();
    process.removeListener('exit', onExit);
    if (failed) io.err(`accord demo: the logs are kept in ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  };

  try {
    io.out(`Envoy: ${envoy.path} (${envoy.version}, found via ${envoy.source})`);
    io.out('starting the control plane ...');
    const dataDir = path.join(workDir, 'accord');
    mkdirSync(dataDir, { mode: 0o700 });
    running.controlPlane = await DemoControlPlane.start(cliMain, dataDir);
    const plane = running.controlPlane;
    const api = connect(plane.http, plane.token());

    const addresses = { orders: '127.0.0.2', payments: '127.0.0.3', intruder: '127.0.0.4' } as const;
    const outbound = { orders: await freePortOn('127.0.0.1'), intruder: await freePortOn('127.0.0.1') };
    const gatewayPort = await freePortOn('127.0.0.1');
    // Like apps in a pod: each on loopback, reached by its sidecar at 127.0.0.1:<port> and by the
    // mesh only through the sidecar's inbound listener on the workload's own address.
    running.apps.push(await startPaymentsApp('127.0.0.1'));
    for (const caller of ['orders', 'intruder'] as const) {
      running.apps.push(await startCallerApp(caller, '127.0.0.1', { host: '127.0.0.1', port: outbound[caller] }, { gatewayIdentity: GATEWAY_IDENTITY }));
    }

    io.out('registering the workloads and applying the policies ...');
    const caBundle = path.join(workDir, 'ca.pem');
    writeFileSync(caBundle, await api.text('GET', '/v1/ca/bundle'));
    // Policies first, so no sidecar ever runs without them; they name the demo's own services,
    // which are registered right after (hence allowUnknownTargets).
    await api.json('POST', '/v1/policies:apply?allowUnknownTargets=true', { text: demoPolicies(gatewayPort), contentType: 'application/yaml' });
    const workloads: { service: keyof typeof addresses; id: string; meshPort: number; outboundPort?: number }[] = [];
    for (const app of running.apps) {
      const service = app.name as keyof typeof addresses;
      // The sidecar's inbound listener binds every address (0.0.0.0) on its mesh port.
      const meshPort = await freePortOn('0.0.0.0');
      const outboundPort = service === 'payments' ? undefined : outbound[service];
      const created = await api.json<{ id: string }>('POST', '/v1/workloads', {
        json: {
          service,
          address: addresses[service],
          port: app.port,
          meshPort,
          ...(outboundPort === undefined ? {} : { upstreams: [{ service: 'payments', localPort: outboundPort }] }),
        },
      });
      workloads.push({ service, id: created.id, meshPort, outboundPort });
    }
    // The gateway's user certificate, where its Envoy looks: <directory>/<namespace>/<name>/tls.crt|tls.key.
    const certificateDirectory = path.join(workDir, 'gateway-certs');
    const userCertificate = await writeSelfSignedCertificate(path.join(certificateDirectory, 'default', GATEWAY_CERTIFICATE), GATEWAY_HOST);
    const userCa = readFileSync(userCertificate.chain, 'utf8');
    // A gateway has no application behind it: its --port only identifies the registration.
    const gatewayWorkload = await api.json<{ id: string }>('POST', '/v1/workloads', {
      json: { service: GATEWAY, address: '127.0.0.1', port: gatewayPort, gateway: { certificateDirectory } },
    });

    io.out('starting the Envoy sidecars ...');
    for (const workload of workloads) {
      if (stopping) break;
      const query = new URLSearchParams({ format: 'envoy', caBundle, xds: plane.xds });
      const bootstrap = await api.text('GET', `/v1/workloads/${encodeURIComponent(workload.id)}/bootstrap?${query}`);
      const dir = path.join(workDir, `envoy-${workload.service}`);
      mkdirSync(dir, { mode: 0o700 });
      const proc = await EnvoyProcess.start({ binary: envoy.path, bootstrap, workDir: dir, logLevel: 'warning' });
      running.sidecars.push({ service: workload.service, address: addresses[workload.service], meshPort: workload.meshPort, outboundPort: workload.outboundPort, envoy: proc });
    }
    if (!stopping) {
      io.out('starting the gateway Envoy ...');
      const query = new URLSearchParams({ format: 'envoy', caBundle, xds: plane.xds });
      const bootstrap = await api.text('GET', `/v1/workloads/${encodeURIComponent(gatewayWorkload.id)}/bootstrap?${query}`);
      const dir = path.join(workDir, `envoy-${GATEWAY}`);
      mkdirSync(dir, { mode: 0o700 });
      running.gateway = await EnvoyProcess.start({ binary: envoy.path, bootstrap, workDir: dir, logLevel: 'warning' });
    }

    const orders = running.apps.find((app) => app.name === 'orders');
    const intruder = running.apps.find((app) => app.name === 'intruder');
    if (!orders || !intruder) throw new Error('the caller apps did not start');
    const allowedUrl = `http://${orders.address}:${orders.port}/pay`;
    const deniedUrl = `http://${intruder.address}:${intruder.port}/pay`;
    const gatewayUrl = `https://${GATEWAY_HOST}:${gatewayPort}/`;
    io.out('waiting for the Envoys to receive their configuration and certificates ...');
    const deadline = Date.now() + CONVERGE_TIMEOUT_MS;
    let last = '';
    for (;;) {
      if (stopping) break;
      const dead = running.sidecars.find((s) => s.envoy.exitStatus);
      if (dead) throw new Error(`the Envoy of ${dead.service} exited; log ${dead.envoy.logPath}`);
      if (running.gateway?.exitStatus) throw new Error(`the gateway Envoy exited; log ${running.gateway.logPath}`);
      try {
        const [allowed, denied, page] = await Promise.all([callStatus(allowedUrl), callStatus(deniedUrl), gatewayStatus(gatewayPort, userCa)]);
        if (allowed === 200 && denied === 403 && page === 200) break;
        last = `orders -> payments: ${allowed}, intruder -> payments: ${denied}, gateway -> orders: ${page}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() > deadline) throw new Error(`the mesh did not converge within ${CONVERGE_TIMEOUT_MS} ms (last: ${last})`);
      await sleep(keepAliveClock, 250);
    }

    if (!stopping) {
      const accord = accordCommand(cliMain);
      const server = `--server ${plane.http} --token-file ${plane.tokenFile}`;
      io.out('');
      io.out('Accord demo mesh is running (STRICT mTLS; payments accepts calls from orders only):');
      io.out(`  control plane   pid ${plane.pid}  HTTP API ${plane.http}  xDS ${plane.xds}  log ${plane.logPath}`);
      for (const app of running.apps) {
        const sidecar = running.sidecars.find((s) => s.service === app.name);
        if (!sidecar) continue;
        const out = sidecar.outboundPort === undefined ? '' : `  outbound to payments 127.0.0.1:${sidecar.outboundPort}`;
        io.out(`  ${app.name.padEnd(9)} app ${app.address}:${app.port}  Envoy pid ${sidecar.envoy.pid}  mTLS inbound ${sidecar.address}:${sidecar.meshPort}${out}  admin ${sidecar.envoy.admin.baseUrl}`);
      }
      if (running.gateway) {
        io.out(`  ${GATEWAY.padEnd(9)} gateway Envoy pid ${running.gateway.pid}  HTTPS 127.0.0.1:${gatewayPort} -> orders  admin ${running.gateway.admin.baseUrl}`);
      }
      io.out('');
      io.out(`Open ${gatewayUrl} : the orders page, through the ingress gateway and mesh mTLS.`);
      io.out(`  (the certificate is self-signed for localhost, ${userCertificate.chain}: the browser warns; curl trusts it with --cacert, or -k)`);
      io.out('');
      io.out('Try:');
      io.out('  # allowed: orders calls payments through both sidecars over mTLS (HTTP 200)');
      io.out(`  $ curl -sS -i ${allowedUrl}`);
      io.out("  # denied: intruder calls payments; payments' Envoy refuses it by RBAC (HTTP 403)");
      io.out(`  $ curl -sS -i ${deniedUrl}`);
      io.out('  # rotation: start a root CA rotation (P0-P4); the sidecars get new certificates, the calls keep working');
      io.out(`  $ ${accord} ca rotate ${server}`);
      io.out('  # the gateway: HTTPS to its Envoy (self-signed certificate, hence -k), mTLS on to orders');
      io.out(`  $ curl -sS -i -k ${gatewayUrl}`);
      io.out('');
      io.out('Press Ctrl-C to stop everything.');
      const died = new Promise<string>((resolve) => {
        for (const sidecar of running.sidecars) void sidecar.envoy.exited.then(() => resolve(`the Envoy of ${sidecar.service} exited; log ${sidecar.envoy.logPath}`));
        const gateway = running.gateway;
        if (gateway) void gateway.exited.then(() => resolve(`the gateway Envoy exited; log ${gateway.logPath}`));
        void plane.exited.then(() => resolve(`the control plane exited; log ${plane.logPath}`));
      });
      const reason = await Promise.race([stopSignal.then((signal) => ({ signal })), died.then((failure) => ({ failure }))]);
      // Ctrl-C in a terminal signals the whole process group: the sidecars may exit on their own
      // SIGINT a moment before the demo handles its own. That is a stop, not a failure.
      await new Promise((r) => setImmediate(r));
      if ('failure' in reason && stopping === undefined) {
        io.err(`accord demo: ${reason.failure}`);
        await cleanUp(true);
        return 1;
      }
    }
    io.out(`${stopping ?? 'stop'}: stopping the Envoys, the apps and the control plane ...`);
    await cleanUp(false);
    io.out('stopped.');
    return 0;
  } catch (error) {
    io.err(`accord demo: ${error instanceof Error ? error.message : String(error)}`);
    await cleanUp(true);
    return 1;
  }
}
