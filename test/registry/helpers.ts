import type { Workload } from '../../src/core/workload.js';
import type { Store, WatchEvent } from '../../src/registry/store.js';
import type { TimerHandle, Clock } from '../../src/core/clock.js';

export function sampleWorkload(overrides: Partial<Workload> = {}): Workload {
  return {
    id: 'orders-abc123',
    service: 'orders',
    namespace: 'default',
    serviceAccount: 'orders',
    address: '10.0.0.1',
    port: 8080,
    meshPort: 15006,
    protocol: 'http',
    labels: { app: 'orders', version: 'v1' },
    locality: { region: 'eu-west-1', zone: 'eu-west-1a' },
    health: 'HEALTHY',
    upstreams: [{ service: 'payments', namespace: 'default', localPort: 9001 }],
    ...overrides,
  };
}

/** Polls until `check` returns true; fails after `timeoutMs`. For eventually-consistent feeds. */
export async function eventually(check: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Records a store's watch events and folds them into the state they describe. */
export class EventRecorder {
  readonly events: WatchEvent[] = [];
  readonly workloads = new Map<string, Workload>();
  policies: readonly unknown[] = [];
  revision = 0;
  private readonly stop: () => void;

  constructor(store: Pick<Store, 'watch'>, fromRevision: number) {
    this.revision = fromRevision;
    this.stop = store.watch(fromRevision, (event) => this.record(event));
  }

  unsubscribe(): void {
    this.stop();
  }

  async reach(revision: number, timeoutMs = 5000): Promise<void> {
    await eventually(() => this.revision >= revision, timeoutMs, `watch revision ${revision} (at ${this.revision})`);
  }

  changes(): Extract<WatchEvent, { type: 'change' }>[] {
    return this.events.filter((e): e is Extract<WatchEvent, { type: 'change' }> => e.type === 'change');
  }

  resyncs(): Extract<WatchEvent, { type: 'resync' }>[] {
    return this.events.filter((e): e is Extract<WatchEvent, { type: 'resync' }> => e.type === 'resync');
  }

  private record(event: WatchEvent): void {
    this.events.push(event);
    if (event.type === 'resync') {
      this.workloads.clear();
      for (const s of event.state.workloads) this.workloads.set(s.workload.id, s.workload);
      this.policies = event.state.policies.docs;
    } else {
      if (event.revision !== this.revision + 1) {
        throw new Error(`out-of-order change ${event.revision} after ${this.revision}`);
      }
      if (event.kind === 'workload') {
        if (event.op === 'put') this.workloads.set(event.key, event.value);
        else this.workloads.delete(event.key);
      } else if (event.kind === 'policies') {
        this.policies = event.value;
      }
    }
    this.revision = event.revision;
  }
}

/** Deterministic timers: time moves only when the test calls `advance`. */
export class FakeClock implements Clock {
  private time = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { at: number; callback: () => void }>();

  constructor(start = 1_000_000) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.pending.set(id, { at: this.time + Math.max(0, ms), callback });
    return { id };
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete((handle as { id: number }).id);
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void {
    const target = this.time + ms;
    for (;;) {
      let nextId: number | undefined;
      let nextAt = Infinity;
      for (const [id, timer] of this.pending) {
        if (timer.at <= target && timer.at < nextAt) {
          nextAt = timer.at;
          nextId = id;
        }
      }
      if (nextId === undefined) break;
      const timer = this.pending.get(nextId)!;
      this.pending.delete(nextId);
      this.time = timer.at;
      timer.callback();
    }
    this.time = target;
  }
}

export const flushMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
