/**
 * Locality failover through real Envoy. Two zones of one region, two `api` workloads in each
 * (a real app process behind a real sidecar Envoy), and a caller's sidecar in zone A. The caller
 * keeps its requests in zone A; when zone A is lost — its apps killed, its workloads
 * deregistered, or its sidecars gone and their leases expired — requests move to zone B with
 * fewer than 1 % failed during the switch and none after; when zone A is back, so is the traffic.
 * The first loss runs with no TrafficPolicy (Accord's default retries and ejection); the rest with
 * a policy that sets its own retries and a quicker ejection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { api, startTestAccord, type TestAccord } from '../app/harness.js';
import { ENVOY_TEST_TIMEOUT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { httpGet } from '../support/envoy-traffic.js';
import { freeListenPorts } from '../support/relocate-ports.js';
import { envoyBootstrapFor } from '../support/scenario-accord.js';

const PHASE_TIMEOUT_MS = 4 * ENVOY_TEST_TIMEOUT_MS;
vi.setConfig({ testTimeout: PHASE_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

/** Applied after the default-policy phase: retries cross to the next priority, ejection is quick. */
const POLICY = `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: api }
spec:
  target: api
  retries: { attempts: 3, retryOn: [5xx] }
  outlierDetection: { consecutive5xx: 2, interval: 1s, baseEjectionTime: 5s }
`;
const WINDOW = 300;

/** A tiny HTTP app in its own process, answering with its name. */
async function startApp(name: string, port: number): Promise<ChildProcess> {
  const source = `require('node:http').createServer((q, s) => s.end(process.env.APP_NAME)).listen(Number(process.env.APP_PORT), '127.0.0.1', () => console.log('ready'))`;
  const child = spawn(process.execPath, ['-e', source], { env: { ...process.env, APP_NAME: name, APP_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`app ${name} exited with ${code}`)));
  });
  return child;
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

type Outcome = 'A' | 'B' | 'fail';

/** Sequential requests through the caller's outbound port, each recorded by the zone that answered. */
class Caller {
  readonly outcomes: Outcome[] = [];
  readonly failures: string[] = [];
  private running = true;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 1 });
  private readonly done: Promise<void>;

  constructor(port: number) {
    this.done = (async () => {
      for (let i = 0; this.running; i++) {
        try {
          const answer = await httpGet(port, i % 4 === 0 ? { fresh: true } : { agent: this.agent });
          const zone = answer.status === 200 ? (/^api-a/.test(answer.body) ? 'A' : /^api-b/.test(answer.body) ? 'B' : undefined) : undefined;
          if (zone) this.outcomes.push(zone);
          else {
            this.outcomes.push('fail');
            this.failures.push(`HTTP ${answer.status} ${answer.body.slice(0, 200)}`);
          }
        } catch (error) {
          this.outcomes.push('fail');
          this.failures.push((error as Error).message);
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
  }

  /** Resolves with outcomes [from, from + count) once they exist. */
  async window(from: number, count: number): Promise<Outcome[]> {
    const deadline = Date.now() + PHASE_TIMEOUT_MS / 2;
    while (this.outcomes.length < from + count) {
      if (Date.now() > deadline) throw new Error(`only ${this.outcomes.length - from} of ${count} requests answered in time`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return this.outcomes.slice(from, from + count);
  }

  /** Waits until the last `count` requests all satisfy `check` (e.g. a zone is back). */
  async until(what: string, count: number, check: (recent: Outcome[]) => boolean): Promise<number> {
    const deadline = Date.now() + PHASE_TIMEOUT_MS / 2;
    for (;;) {
      const recent = this.outcomes.slice(-count);
      if (recent.length === count && check(recent)) return this.outcomes.length;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${recent.join(',')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    this.agent.destroy();
  }
}

function tally(outcomes: readonly Outcome[]): { a: number; b: number; failed: number; total: number } {
  return {
    a: outcomes.filter((o) => o === 'A').length,
    b: outcomes.filter((o) => o === 'B').length,
    failed: outcomes.filter((o) => o === 'fail').length,
    total: outcomes.length,
  };
}

function report(label: string, outcomes: readonly Outcome[]): ReturnType<typeof tally> {
  const t = tally(outcomes);
  console.log(`${label}: ${t.total} requests, zone A ${t.a} (${((100 * t.a) / t.total).toFixed(1)} %), zone B ${t.b}, failed ${t.failed}`);
  return t;
}

interface ApiWorkload {
  readonly name: string;
  id: string;
  readonly zone: 'zone-a' | 'zone-b';
  readonly address: string;
  readonly appPort: number;
  readonly meshPort: number;
  app?: ChildProcess;
  sidecar?: TestEnvoy;
}

describe('locality failover through real Envoy: two zones, a caller in zone A', () => {
  const fleet = useEnvoyFleet();
  let accord: TestAccord;
  let caller: Caller;
  let sidecar: TestEnvoy;
  const workloads: ApiWorkload[] = [];

  const register = async (body: Record<string, unknown>): Promise<string> => {
    const response = await api(accord, 'POST', '/v1/workloads', { body });
    expect(response.status, response.text).toBe(201);
    return (response.body as { id: string }).id;
  };

  /** Registers an api workload, starts its app and sidecar, and waits for the sidecar's config. */
  async function bringUp(w: ApiWorkload): Promise<void> {
    w.id = await register({
      service: 'api',
      address: w.address,
      port: w.appPort,
      meshPort: w.meshPort,
      locality: { region: 'eu', zone: w.zone },
      // Zone A's leases are short, so that the lease-expiry phase stays short.
      ...(w.zone === 'zone-a' ? { ttl: '3s' } : {}),
    });
    w.app = await startApp(w.name, w.appPort);
    w.sidecar = await fleet.start(`locality-${w.name}`, await envoyBootstrapFor(accord, w.id));
    try {
      await w.sidecar.waitUntilSynced({ [TypeUrl.Listener]: [`inbound|${w.meshPort}`], [TypeUrl.Secret]: ['ROOTCA', 'default'] });
    } catch (error) {
      console.log(`${w.name} not synced; Accord's last log lines:\n${accord.logs.slice(-30).join('\n')}\nEnvoy log:\n${w.sidecar.process.log().slice(-3000)}`);
      throw error;
    }
  }

  beforeAll(async () => {
    const ports = await freeListenPorts(18);
    accord = await startTestAccord({ leaseReconnectWindow: '1s' });
    // A starting replica reaps no lease until it knows no other replica was up (docs/registry.md).
    const deadline = Date.now() + 20_000;
    while (!accord.logs.some((line) => line.includes('every lease now ends no sooner')) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const names = ['api-a1', 'api-a2', 'api-b1', 'api-b2', 'api-a3', 'api-a4'];
    names.forEach((name, i) =>
      workloads.push({ name, id: '', zone: name.startsWith('api-a') ? 'zone-a' : 'zone-b', address: `127.0.0.${11 + i}`, appPort: ports[2 * i]!, meshPort: ports[2 * i + 1]! }),
    );
    await Promise.all(workloads.slice(0, 4).map(bringUp));
    const [webMesh, webUpstream] = ports.slice(12);
    const web = await register({
      service: 'web',
      address: '127.0.0.10',
      port: ports[14]!,
      meshPort: webMesh,
      locality: { region: 'eu', zone: 'zone-a' },
      upstreams: [{ service: 'api', localPort: webUpstream }],
    });
    sidecar = await fleet.start('locality-web', await envoyBootstrapFor(accord, web));
    await sidecar.waitUntilSynced({ [TypeUrl.Listener]: [`inbound|${webMesh}`, `outbound|${webUpstream}`], [TypeUrl.Secret]: ['ROOTCA', 'default'] });
    caller = new Caller(webUpstream!);
    await caller.until('the first answers from zone A', 20, (recent) => recent.every((o) => o === 'A'));
  });
  afterAll(async () => {
    await caller?.stop();
    await fleet.stopAll();
    await Promise.all(workloads.map((w) => w.app && kill(w.app)));
    await accord?.close();
  });

  const zoneA = (): ApiWorkload[] => workloads.filter((w) => w.zone === 'zone-a' && w.sidecar);

  it(`keeps ≥ 95 % of ${WINDOW} requests in the caller's zone`, async () => {
    const t = report('steady', await caller.window(caller.outcomes.length, WINDOW));
    expect(t.failed).toBe(0);
    expect(t.a / t.total).toBeGreaterThanOrEqual(0.95);
  });

  /** Zone A is lost by `lose`; the next WINDOW requests are the switch, the WINDOW after them must all reach zone B. */
  async function expectFailoverAfter(label: string, lose: () => Promise<void>): Promise<void> {
    const from = caller.outcomes.length;
    await lose();
    const switching = report(`${label}, switch`, await caller.window(from, WINDOW));
    const after = report(`${label}, after`, await caller.window(from + WINDOW, WINDOW));
    if (switching.failed + after.failed > 0) {
      console.log(`${label} failures: ${caller.failures.slice(-3).join(' | ')}`);
      console.log(JSON.stringify(Object.fromEntries([...(await sidecar.admin.stats('outbound.api.*(outlier|retry|5xx|cx_connect_fail|overflow)'))].filter(([, v]) => v > 0))));
      console.log(caller.outcomes.slice(from, from + 300).join(''));
    }
    expect(switching.failed / switching.total).toBeLessThan(0.01);
    expect(after).toMatchObject({ failed: 0, b: WINDOW });
  }

  /**
   * Zone A is back (since outcome `from`): traffic must return — a window of WINDOW requests with
   * ≥ 95 % in zone A — and nothing may fail on the way back. Endpoints ejected while they were
   * down (or before their sidecars were ready) return when their ejection time runs out.
   */
  async function expectReturn(label: string, from: number): Promise<void> {
    const end = await caller.until(`${label}: ≥ 95 % of ${WINDOW} requests back in zone A`, WINDOW, (recent) => tally(recent).a >= 0.95 * WINDOW);
    report(`${label}, back`, caller.outcomes.slice(end - WINDOW, end));
    const returning = report(`${label}, whole return`, caller.outcomes.slice(from, end));
    expect(returning.failed).toBe(0);
  }

  it('by default (no TrafficPolicy) retries into the next zone and ejects the dead one', async () => {
    const lost = zoneA();
    // Accord's default retries (other hosts, next priority) carry the switch; its default ejection ends it.
    await expectFailoverAfter('default policy, apps killed', async () => {
      await Promise.all(lost.map((w) => kill(w.app!)));
    });
    const retried = await sidecar.admin.stats('outbound.api.*upstream_rq_retry(_success|_overflow)?$');
    console.log(`default policy: caller's retries ${JSON.stringify(Object.fromEntries(retried))}`);
    const back = caller.outcomes.length;
    for (const w of lost) w.app = await startApp(w.name, w.appPort);
    // The policy for the remaining phases: a changed cluster starts with no host ejected.
    const applied = await api(accord, 'PUT', '/v1/policies', { yaml: POLICY });
    expect(applied.status, applied.text).toBe(200);
    await expectReturn('default policy, apps restarted, policy applied', back);
  });

  it("moves to zone B when zone A's apps are killed, and back when they return", async () => {
    const lost = zoneA();
    await expectFailoverAfter('apps killed', async () => {
      await Promise.all(lost.map((w) => kill(w.app!)));
    });
    const back = caller.outcomes.length;
    for (const w of lost) w.app = await startApp(w.name, w.appPort);
    await expectReturn('apps restarted', back);
  });

  it("moves to zone B when zone A's workloads are deregistered, and back when zone A registers again", async () => {
    const lost = zoneA();
    await expectFailoverAfter('deregistered', async () => {
      for (const w of lost) expect((await api(accord, 'DELETE', `/v1/workloads/${w.id}`)).status).toBe(204);
    });
    for (const w of lost) {
      await w.sidecar!.process.stop();
      await kill(w.app!);
      w.sidecar = undefined;
    }
    // Zone A comes back as new workloads.
    const back = caller.outcomes.length;
    await Promise.all(workloads.filter((w) => w.name === 'api-a3' || w.name === 'api-a4').map(bringUp));
    await expectReturn('registered again', back);
  });

  it("moves to zone B when zone A's sidecars and apps are gone and their leases expire", async () => {
    const lost = zoneA();
    await expectFailoverAfter('sidecars gone', async () => {
      await Promise.all(lost.map(async (w) => Promise.all([w.sidecar!.process.stop(0), kill(w.app!)])));
    });
    const registered = async (): Promise<string[]> =>
      ((await api(accord, 'GET', '/v1/workloads')).body as { workloads: { id: string }[] }).workloads.map((w) => w.id);
    let ids = await registered();
    const deadline = Date.now() + 60_000;
    while (lost.some((w) => ids.includes(w.id)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      ids = await registered();
    }
    expect(ids.filter((id) => lost.some((w) => w.id === id))).toEqual([]);
    // With the leases gone the CLA holds zone B only; requests keep succeeding.
    const t = report('leases expired', await caller.window(caller.outcomes.length, WINDOW));
    expect(t).toMatchObject({ failed: 0, b: WINDOW });
  });
});
