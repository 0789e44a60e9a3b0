/**
 * A rolling restart of three `accord serve --redis` replicas under HTTP load through real Envoy
 * sidecars (two orders callers → two payments endpoints, over mTLS). Every sidecar's bootstrap,
 * from `accord bootstrap --format envoy`, lists all three replicas. Each replica in turn gets
 * SIGTERM, drains (readiness fails, new streams refused, open ones served through the drain period
 * and then closed spread over a window), exits 0 and is started again before the next one. No
 * request fails, every Envoy stays connected to some replica and accepts every update, and the
 * maximum connection age leaves the Envoys' xDS streams spread over more than one replica.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ENVOY_TEST_TIMEOUT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { EnvoyMeshHarness, HttpApp, eventually, waitSettled, type Registered } from '../support/envoy-mesh.js';
import { RequestLoop } from '../support/envoy-traffic.js';
import { freeListenPorts } from '../support/relocate-ports.js';

const DRAIN_MS = 3000;
const REPLICAS = 3;
const ROLL_TIMEOUT_MS = 4 * ENVOY_TEST_TIMEOUT_MS;
vi.setConfig({ testTimeout: ROLL_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

interface Drain {
  readonly replica: number;
  /** The sidecars whose xDS stream was on the replica when it got SIGTERM. */
  readonly had: string[];
  readonly exitCode: number | null;
  readonly exitedAfterMs: number;
  /** How long until every sidecar was connected again (each to a replica that is up). */
  readonly reconnectedAfterMs: number;
  readonly backAfterMs: number;
}

describe('rolling restart of three replicas under load through real Envoy', () => {
  const fleet = useEnvoyFleet();
  const mesh = new EnvoyMeshHarness(fleet);
  const apps: HttpApp[] = [];
  const ids = new Map<string, Registered>();
  const envoys = new Map<string, TestEnvoy>();
  const callerPorts: number[] = [];

  /** Sidecar name → index of the replica holding its xDS stream (absent: none). */
  async function placement(): Promise<Map<string, number>> {
    const where = new Map<string, number>();
    for (const [index, replica] of mesh.replicas.entries()) {
      if (!replica.running) continue;
      const response = await replica.request('GET', '/v1/proxies').catch(() => undefined);
      if (response?.status !== 200) continue;
      const nodes = new Set((response.body as { proxies: { nodeId: string }[] }).proxies.map((p) => p.nodeId));
      for (const [name, workload] of ids) if (nodes.has(workload.id)) where.set(name, index);
    }
    return where;
  }

  async function allConnected(): Promise<boolean> {
    for (const envoy of envoys.values()) {
      const state = (await envoy.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state');
      if (state !== 1) return false;
    }
    return true;
  }

  beforeAll(async () => {
    const free = await freeListenPorts(10);
    const [payments1App, payments2App, orders1App, orders2App, payments1Mesh, payments2Mesh, orders1Mesh, orders2Mesh, orders1Out, orders2Out] = free as [
      number, number, number, number, number, number, number, number, number, number,
    ];
    callerPorts.push(orders1Out, orders2Out);
    for (const [name, port] of [['payments-1', payments1App], ['payments-2', payments2App], ['orders-1', orders1App], ['orders-2', orders2App]] as const) {
      apps.push(await HttpApp.start(name, port));
    }
    // ACCORD_SHUTDOWN_GRACE_MS (the harness's quick stop) is unset: these replicas drain for real.
    await mesh.start(['--drain-period', `${DRAIN_MS}ms`, '--drain-close-window', '2s', '--max-connection-age', '4s'], {
      replicas: REPLICAS,
      env: { ACCORD_SHUTDOWN_GRACE_MS: '' },
    });
    await mesh.apply([{ apiVersion: 'accord.dev/v1', kind: 'Mesh', metadata: { name: 'default' }, spec: { mtls: 'STRICT' } }]);
    ids.set('payments-1', await mesh.register({ service: 'payments', address: '127.0.0.3', port: payments1App, meshPort: payments1Mesh }));
    ids.set('payments-2', await mesh.register({ service: 'payments', address: '127.0.0.4', port: payments2App, meshPort: payments2Mesh }));
    ids.set('orders-1', await mesh.register({ service: 'orders', address: '127.0.0.2', port: orders1App, meshPort: orders1Mesh, upstreams: [{ service: 'payments', localPort: orders1Out }] }));
    ids.set('orders-2', await mesh.register({ service: 'orders', address: '127.0.0.5', port: orders2App, meshPort: orders2Mesh, upstreams: [{ service: 'payments', localPort: orders2Out }] }));
    const started = await Promise.all([...ids].map(async ([name, workload]) => [name, await mesh.sidecar(`roll-${name}`, workload.id, { delta: name.endsWith('-2') })] as const));
    for (const [name, envoy] of started) envoys.set(name, envoy);
  });

  afterAll(async () => {
    await fleet.stopAll();
    for (const replica of mesh.replicas) replica.kill9();
    await mesh.stop();
    await Promise.all(apps.map((app) => app.close()));
  });

  it('every bootstrap lists the three replicas as the endpoints of its xDS cluster', async () => {
    for (const [name, envoy] of envoys) {
      const members = (await envoy.admin.stats('^cluster\\.accord-xds\\.membership_total$')).get('cluster.accord-xds.membership_total');
      expect(members, name).toBe(REPLICAS);
    }
  });

  it('SIGTERM to each replica in turn under load: zero failed requests, the Envoys fail over and end up spread over the replicas', async () => {
    const ok = (answer: { status: number; body: string }): boolean => answer.status === 200 && /^payments-[12]$/.test(answer.body);
    const load = new RequestLoop(callerPorts, ok, 5);
    const drains: Drain[] = [];
    const startedAt = Date.now();
    try {
      await eventually('load before the first restart', async () => (load.ok >= 50 ? true : undefined));
      for (const [index, replica] of mesh.replicas.entries()) {
        const had = [...(await placement())].filter(([, on]) => on === index).map(([name]) => name);
        const signalledAt = Date.now();
        const exitCode = await replica.terminate();
        const exitedAfterMs = Date.now() - signalledAt;
        // While this replica is down, every Envoy must be connected to one of the other two.
        const reconnectedAfterMs = await eventually(
          `every Envoy connected to a running replica after replica ${index} stopped`,
          async () => {
            const where = await placement();
            return where.size === envoys.size && (await allConnected()) ? Date.now() - signalledAt : undefined;
          },
          60_000,
        );
        await replica.launch();
        drains.push({ replica: index, had, exitCode, exitedAfterMs, reconnectedAfterMs, backAfterMs: Date.now() - signalledAt });
      }
      // The maximum connection age (4 s) keeps moving streams: they spread over more than one replica.
      const spread = await eventually(
        'the Envoys spread over more than one replica',
        async () => {
          const where = await placement();
          const counts = mesh.replicas.map((_, index) => [...where.values()].filter((on) => on === index).length);
          return where.size === envoys.size && counts.filter((n) => n > 0).length > 1 ? counts : undefined;
        },
        60_000,
      );
      // A little more load after the last restart.
      const okAfterRoll = load.ok;
      await eventually('load after the restarts', async () => (load.ok >= okAfterRoll + 50 ? true : undefined));
      await load.stop();
      console.log(JSON.stringify({ drains, spreadOverReplicas: spread, requests: { ok: load.ok, failed: load.failures.length }, tookMs: Date.now() - startedAt }));
      for (const drain of drains) expect(drain.exitCode, `replica ${drain.replica}'s exit code`).toBe(0);
      // Envoys were on the stopped replicas and had to fail over (not merely stay where they were).
      expect(drains.flatMap((drain) => drain.had).length).toBeGreaterThan(0);
      expect(load.failures.slice(0, 10)).toEqual([]);
      expect(load.ok).toBeGreaterThan(200);
      for (const [name, envoy] of envoys) {
        await waitSettled(envoy);
        expect(await envoy.rejectedUpdates(), name).toEqual({});
      }
    } finally {
      await load.stop();
    }
  });
});
