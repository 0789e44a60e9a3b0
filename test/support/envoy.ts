/**
 * Real Envoy in tests. `useEnvoyFleet()` (call it in a describe block) gives a fleet that starts
 * Envoy processes from a bootstrap, stops every one of them in afterAll (and kills them if the
 * worker exits first), keeps their logs when a test of the suite failed, and offers the waits
 * and oracles the suites share: ready, synced with an expected set of resources, rejected updates.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, inject } from 'vitest';
import { EnvoyProcess, type EnvoyAdmin, type EnvoyBinary, type EnvoyProcessOptions } from '../../src/envoy/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { ENVOY_SUITES, SKIP_ENVOY_ENV } from '../envoy-suites.js';
import { readDump, type DumpView } from './envoy-dump.js';

/** Generous: Envoy can take seconds to start and to converge on a busy 2-core machine. */
export const ENVOY_WAIT_MS = 60_000;
/** Per test and hook in Envoy suites: a wait or two plus start-up. */
export const ENVOY_TEST_TIMEOUT_MS = 150_000;

/** The Envoy the global setup found (or installed). */
export function testEnvoyBinary(): EnvoyBinary {
  const envoy = inject('envoy');
  if (!envoy) throw new Error(`no Envoy in this run (${SKIP_ENVOY_ENV}=1 excludes ${ENVOY_SUITES}); a suite that starts Envoy must live there`);
  return envoy;
}

const running = new Set<EnvoyProcess>();
let exitHookInstalled = false;
function killOnExit(envoy: EnvoyProcess): void {
  running.add(envoy);
  void envoy.exited.then(() => running.delete(envoy));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const proc of running) proc.kill();
  });
}

/** Per xDS type URL, the names of the resources Envoy must have active (exactly these). */
export type ExpectedResources = Partial<Record<string, readonly string[]>>;

const SHORT_TYPE: Readonly<Record<string, string>> = {
  [TypeUrl.Listener]: 'LDS',
  [TypeUrl.RouteConfiguration]: 'RDS',
  [TypeUrl.Cluster]: 'CDS',
  [TypeUrl.ClusterLoadAssignment]: 'EDS',
  [TypeUrl.Secret]: 'SDS',
};

export class TestEnvoy {
  constructor(
    readonly name: string,
    readonly process: EnvoyProcess,
  ) {}

  get admin(): EnvoyAdmin {
    return this.process.admin;
  }

  get logPath(): string {
    return this.process.logPath;
  }

  /** Envoy's own words for every config update it rejected (its `[warning]` "… rejected: …" lines). */
  rejectionsInLog(): string[] {
    return this.process
      .log()
      .split('\n')
      .filter((line) => /\]\[(warning|error)\]/.test(line) && /rejected|NACK|error adding listener|cannot bind/i.test(line));
  }

  /** Every `*.update_rejected` counter that is not zero (a NACK of some xDS type or SDS secret). */
  async rejectedUpdates(): Promise<Record<string, number>> {
    const stats = await this.admin.stats('update_rejected$');
    return Object.fromEntries([...stats].filter(([, value]) => value > 0).sort());
  }

  async dump(): Promise<DumpView> {
    return readDump(await this.admin.configDump({ includeEds: true }));
  }

  /** Polls `check` until it returns a value; on timeout says what it waited for, with Envoy's rejections and log path. */
  async waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = ENVOY_WAIT_MS): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const exit = this.process.exitStatus;
      if (exit) throw new Error(`${this.name}: Envoy exited (${exit.code ?? exit.signal}) while waiting for ${what}; log ${this.logPath}:\n${this.process.log().split('\n').slice(-30).join('\n')}`);
      try {
        const value = await check();
        if (value !== undefined) return value;
      } catch (error) {
        if (error instanceof EnvoyRejectedError) throw error;
        last = error instanceof Error ? error.message : String(error);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last: ${last})` : ''}; rejections: ${JSON.stringify(this.rejectionsInLog())}; log ${this.logPath}`);
  }

  async waitLive(timeoutMs = ENVOY_WAIT_MS): Promise<void> {
    await this.waitFor('/ready to say LIVE', async () => ((await this.admin.ready()).live ? true : undefined), timeoutMs);
  }

  /**
   * Waits until Envoy is LIVE, connected to its control plane, and has exactly the expected
   * resources active with nothing warming and no listener in error. Any rejected update ends the
   * wait at once with Envoy's reason. Returns the config dump it saw.
   */
  async waitUntilSynced(expected: ExpectedResources, timeoutMs = ENVOY_WAIT_MS): Promise<DumpView> {
    return this.waitFor(
      `config ${describeExpected(expected)}`,
      async () => {
        const rejected = await this.rejectedUpdates();
        if (Object.keys(rejected).length > 0) throw new EnvoyRejectedError(this.name, rejected, this.rejectionsInLog(), this.logPath);
        if (!(await this.admin.ready()).live) throw new Error('not LIVE');
        const connected = (await this.admin.stats('^control_plane\\.connected_state$')).get('control_plane.connected_state');
        if (connected !== 1) throw new Error(`control_plane.connected_state=${connected}`);
        const view = await this.dump();
        const problems = syncProblems(view, expected);
        if (problems.length > 0) throw new Error(problems.join('; '));
        return view;
      },
      timeoutMs,
    );
  }
}

function describeExpected(expected: ExpectedResources): string {
  return Object.entries(expected)
    .map(([typeUrl, names]) => `${SHORT_TYPE[typeUrl] ?? typeUrl}=[${(names ?? []).join(',')}]`)
    .join(' ');
}

/** What keeps a dump from matching the expected resources (empty when it matches). */
export function syncProblems(view: DumpView, expected: ExpectedResources): string[] {
  const problems: string[] = [];
  if (view.warmingListeners.length > 0) problems.push(`listeners warming: ${view.warmingListeners.join(',')}`);
  if (view.warmingClusters.length > 0) problems.push(`clusters warming: ${view.warmingClusters.join(',')}`);
  if (view.warmingSecrets.length > 0) problems.push(`secrets warming: ${view.warmingSecrets.join(',')}`);
  for (const error of view.listenerErrors) problems.push(`listener ${error.name} in error: ${error.details}`);
  for (const [typeUrl, names] of Object.entries(expected)) {
    const have = [...(view.active.get(typeUrl)?.keys() ?? [])].sort();
    const want = [...(names ?? [])].sort();
    if (JSON.stringify(have) !== JSON.stringify(want)) problems.push(`${SHORT_TYPE[typeUrl] ?? typeUrl} active [${have.join(',')}], want [${want.join(',')}]`);
  }
  return problems;
}

export class EnvoyRejectedError extends Error {
  constructor(name: string, counters: Record<string, number>, lines: readonly string[], logPath: string) {
    super(`${name}: Envoy rejected configuration: ${JSON.stringify(counters)}\n${lines.join('\n')}\nlog ${logPath}`);
    this.name = 'EnvoyRejectedError';
  }
}

export type FleetStartOptions = Omit<EnvoyProcessOptions, 'binary' | 'bootstrap' | 'workDir'>;

/** The Envoys one suite starts; see `useEnvoyFleet`. */
export class EnvoyFleet {
  private readonly envoys: TestEnvoy[] = [];
  private readonly workDirs: string[] = [];
  private keepLogs = false;

  constructor(
    readonly binary: EnvoyBinary,
    private readonly runDir: string,
  ) {}

  /** Starts an Envoy (admin on 127.0.0.1, ephemeral port) and resolves once its admin interface answers. */
  async start(name: string, bootstrap: string | Record<string, unknown>, options: FleetStartOptions = {}): Promise<TestEnvoy> {
    const workDir = mkdtempSync(path.join(this.runDir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}-`));
    this.workDirs.push(workDir);
    const proc = await EnvoyProcess.start({ binary: this.binary.path, bootstrap, workDir, ...options });
    killOnExit(proc);
    const envoy = new TestEnvoy(name, proc);
    this.envoys.push(envoy);
    return envoy;
  }

  /** A fresh directory in this run for files an Envoy reads (CA bundles, certificates). */
  scratchDir(name: string): string {
    const dir = mkdtempSync(path.join(this.runDir, `${name}-`));
    this.workDirs.push(dir);
    return dir;
  }

  /** Called when a test failed: the suite's Envoy logs stay on disk and their paths are printed. */
  keepLogsForFailure(): void {
    if (!this.keepLogs) {
      for (const envoy of this.envoys) console.log(`Envoy log of ${envoy.name} kept: ${envoy.logPath}`);
    }
    this.keepLogs = true;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.envoys.map((envoy) => envoy.process.stop()));
    if (!this.keepLogs) for (const dir of this.workDirs) rmSync(dir, { recursive: true, force: true });
  }
}

/** A fleet for the enclosing suite: stopped in afterAll, logs kept if any of its tests failed. */
export function useEnvoyFleet(): EnvoyFleet {
  const runDir = inject('envoyRunDir');
  if (!runDir) throw new Error('no envoyRunDir from the global setup (test/global-setup.ts)');
  const fleet = new EnvoyFleet(testEnvoyBinary(), runDir);
  afterEach((context) => {
    if (context.task.result?.state === 'fail') fleet.keepLogsForFailure();
  });
  afterAll(async () => {
    await fleet.stopAll();
  });
  return fleet;
}
