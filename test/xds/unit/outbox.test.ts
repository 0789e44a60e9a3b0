import { describe, expect, it } from 'vitest';
import { FlushScheduler, Outbox } from '../../../src/xds/outbox.js';
import { adsRank } from '../../../src/xds/type-order.js';
import { TypeUrl } from '../../../src/xds/contract.js';

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
async function ticks(n = 4): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

/** A sink that records writes and completes them when told, like a transport with a send buffer. */
class RecordingSink {
  readonly written: string[] = [];
  private readonly completions: (() => void)[] = [];
  accept = true;
  write(message: Buffer, written: () => void): boolean {
    this.written.push(message.toString());
    this.completions.push(written);
    return this.accept;
  }
  completeAll(): void {
    for (const done of this.completions.splice(0)) done();
  }
}

describe('Outbox', () => {
  it('sends pending types in ADS order, each once, built from the state at send time', async () => {
    const sink = new RecordingSink();
    const state = new Map<string, number>();
    const outbox = new Outbox(
      new FlushScheduler(),
      { write: (m, w) => { const ok = sink.write(m, w); sink.completeAll(); return ok; } },
      (type) => Buffer.from(`${type.split('.').pop()}@${state.get(type) ?? 0}`),
      adsRank,
    );
    for (const type of [TypeUrl.RouteConfiguration, TypeUrl.Listener, TypeUrl.ClusterLoadAssignment, TypeUrl.Cluster]) {
      state.set(type, 1);
      outbox.mark(type);
    }
    state.set(TypeUrl.Cluster, 2);
    outbox.mark(TypeUrl.Cluster);
    await ticks();
    expect(sink.written).toEqual(['Cluster@2', 'ClusterLoadAssignment@1', 'Listener@1', 'RouteConfiguration@1']);
  });

  it('sends deferred types after every other pending type', async () => {
    const sink = new RecordingSink();
    const outbox = new Outbox(
      new FlushScheduler(),
      { write: (m, w) => { const ok = sink.write(m, w); sink.completeAll(); return ok; } },
      (type) => Buffer.from(type.split('.').pop() ?? ''),
      adsRank,
    );
    outbox.markDeferred(TypeUrl.Cluster);
    outbox.mark(TypeUrl.RouteConfiguration);
    outbox.mark(TypeUrl.Listener);
    await ticks();
    expect(sink.written).toEqual(['Listener', 'RouteConfiguration', 'Cluster']);
  });

  it('holds further writes until the previous one completed, then sends only the latest state', async () => {
    const sink = new RecordingSink();
    let version = 0;
    const outbox = new Outbox(new FlushScheduler(), sink, () => Buffer.from(`v${version}`), adsRank);
    version = 1;
    outbox.mark(TypeUrl.ClusterLoadAssignment);
    await ticks();
    for (version = 2; version <= 10; version++) {
      outbox.markChanged(TypeUrl.ClusterLoadAssignment);
      await ticks();
    }
    expect(sink.written).toEqual(['v1']);
    version = 10;
    sink.completeAll();
    await ticks();
    expect(sink.written).toEqual(['v1', 'v10']);
  });

  it('waits for drain when the transport says so', async () => {
    const sink = new RecordingSink();
    sink.accept = false;
    const outbox = new Outbox(new FlushScheduler(), sink, (type) => Buffer.from(type.split('.').pop() ?? ''), adsRank);
    outbox.mark(TypeUrl.Cluster);
    outbox.mark(TypeUrl.Listener);
    await ticks();
    sink.completeAll();
    await ticks();
    expect(sink.written).toEqual(['Cluster']);
    sink.accept = true;
    outbox.drained();
    await ticks();
    expect(sink.written).toEqual(['Cluster', 'Listener']);
  });

  it('skips types whose build has nothing to send and stops after close', async () => {
    const sink = new RecordingSink();
    const outbox = new Outbox(
      new FlushScheduler(),
      { write: (m, w) => { const ok = sink.write(m, w); sink.completeAll(); return ok; } },
      (type) => (type === TypeUrl.Cluster ? undefined : Buffer.from('x')),
      adsRank,
    );
    outbox.mark(TypeUrl.Cluster);
    await ticks();
    expect(sink.written).toEqual([]);
    outbox.close();
    outbox.mark(TypeUrl.Listener);
    await ticks();
    expect(sink.written).toEqual([]);
  });

  it('flushes a large round in slices, so the event loop runs (sockets send, ACKs are read) before the round ends', async () => {
    const scheduler = new FlushScheduler();
    const order: string[] = [];
    const busy = (ms: number): void => {
      const until = performance.now() + ms;
      while (performance.now() < until) {
        // building a response
      }
    };
    // The timer is set by the first write, not before the round: set before it, a busy machine
    // can let 1 ms pass before the round's first check phase and run the timer ahead of it.
    const write = (): void => {
      if (order.length === 0) setTimeout(() => order.push('timer'), 0);
      order.push('write');
    };
    for (let i = 0; i < 100; i++) {
      const outbox = new Outbox(
        scheduler,
        { write: (_m, written) => { write(); written(); return true; } },
        () => {
          busy(0.25);
          return Buffer.from('x');
        },
        adsRank,
      );
      outbox.mark(TypeUrl.ClusterLoadAssignment);
    }
    for (let turn = 0; turn < 1000 && order.filter((o) => o === 'write').length < 100; turn++) await tick();
    expect(order.filter((o) => o === 'write')).toHaveLength(100);
    // A slice is at least 32 writes × 0.25 ms: the timer, due 1 ms into the first, runs between
    // two slices, before the round's last write.
    const timer = order.indexOf('timer');
    expect(timer).toBeGreaterThan(0);
    expect(timer).toBeLessThan(order.length - 1);
  });
});
