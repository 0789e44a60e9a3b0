import { drainSlice } from '../core/time-slices.js';

/**
 * Per-stream, flow-controlled sending of coalesced per-type responses.
 *
 * Nothing is queued but the set of types that need a response: a response is built from the
 * latest state only when it can be written, so a slow stream is sent the latest state when it
 * drains, never a backlog, and its memory stays bounded. Types go out in `rank` order
 * (make-before-break on ADS); deferred types (pending removals) go after every other type.
 */
export interface OutboxSink {
  /** Writes one message; `written` runs once it has left the process. False: wait for `drained()`. */
  write(message: Buffer, written: () => void): boolean;
}

/**
 * Runs the flushes of every outbox that has something to send from one immediate callback per
 * event-loop turn, instead of one timer object per stream (a push to 10,000 streams schedules
 * two callbacks, not 20,000), in time slices (src/core/time-slices.ts) so that written messages
 * leave and ACKs are read while a large push is still being built.
 */
export class FlushScheduler {
  private soon = new Set<Outbox>();
  private afterIo = new Set<Outbox>();
  private soonScheduled = false;
  private afterIoScheduled = false;

  /** Flush in the next check phase. */
  flushSoon(outbox: Outbox): void {
    this.soon.add(outbox);
    if (this.soonScheduled) return;
    this.soonScheduled = true;
    setImmediate(() => {
      this.soonScheduled = false;
      const round = this.soon;
      this.soon = new Set();
      this.run(round);
    });
  }

  /** Flush after one more I/O turn, so requests already on the wire are applied first. */
  flushAfterIo(outbox: Outbox): void {
    this.afterIo.add(outbox);
    if (this.afterIoScheduled) return;
    this.afterIoScheduled = true;
    setImmediate(() =>
      setImmediate(() => {
        this.afterIoScheduled = false;
        const round = this.afterIo;
        this.afterIo = new Set();
        this.run(round);
      }),
    );
  }

  /** Flushes the round's outboxes for one slice; what is left continues in the next check phase. */
  private run(round: Set<Outbox>): void {
    if (drainSlice(round, flushOutbox)) setImmediate(() => this.run(round));
  }
}

const flushOutbox = (outbox: Outbox): void => outbox.flush();

/** At most this many written-but-unflushed messages per stream. */
const MAX_IN_FLIGHT = 1;

export class Outbox {
  private readonly pending = new Set<string>();
  /** Rarely used (removals held back in a push): created on first use. */
  private deferred: Set<string> | undefined;
  private inFlight = 0;
  private needsDrain = false;
  private closed = false;

  constructor(
    private readonly scheduler: FlushScheduler,
    private readonly sink: OutboxSink,
    private readonly build: (typeUrl: string) => Buffer | undefined,
    private readonly rank: (typeUrl: string) => number,
  ) {}

  /** The type needs a response computed from the latest state. */
  mark(typeUrl: string): void {
    if (this.closed) return;
    this.pending.add(typeUrl);
    this.schedule();
  }

  /**
   * The source changed the type: respond after one more I/O turn, so requests already on the wire
   * (an unsubscribe, say) are applied before the push is computed (go-control-plane PR #1498).
   */
  markChanged(typeUrl: string): void {
    if (this.closed) return;
    this.pending.add(typeUrl);
    this.scheduler.flushAfterIo(this);
  }

  /** The type needs a response after every other pending type has been sent. */
  markDeferred(typeUrl: string): void {
    if (this.closed) return;
    (this.deferred ??= new Set()).add(typeUrl);
    this.schedule();
  }

  /** True if a type other than `typeUrl` still waits to be sent in this push. */
  hasOtherPending(typeUrl: string): boolean {
    for (const other of this.pending) if (other !== typeUrl) return true;
    return false;
  }

  isPending(typeUrl: string): boolean {
    return this.pending.has(typeUrl) || this.deferred?.has(typeUrl) === true;
  }

  /** The transport drained ('drain' event). */
  drained(): void {
    this.needsDrain = false;
    this.schedule();
  }

  close(): void {
    this.closed = true;
    this.pending.clear();
    this.deferred = undefined;
  }

  private schedule(): void {
    if (!this.closed) this.scheduler.flushSoon(this);
  }

  /** Writes what can be written now (called by the scheduler). */
  flush(): void {
    while (!this.closed && !this.needsDrain && this.inFlight < MAX_IN_FLIGHT) {
      const typeUrl = this.next();
      if (typeUrl === undefined) return;
      const message = this.build(typeUrl);
      if (!message || this.closed) continue;
      this.inFlight += 1;
      if (!this.sink.write(message, this.written)) this.needsDrain = true;
    }
  }

  /** One callback per outbox, not one per message. */
  private readonly written = (): void => {
    this.inFlight -= 1;
    if (this.pending.size > 0 || (this.deferred?.size ?? 0) > 0) this.schedule();
  };

  private next(): string | undefined {
    let best: string | undefined;
    let bestRank = Number.POSITIVE_INFINITY;
    for (const typeUrl of this.pending) {
      const rank = this.rank(typeUrl);
      if (rank < bestRank) {
        best = typeUrl;
        bestRank = rank;
      }
    }
    const from = best !== undefined ? this.pending : this.deferred;
    if (best === undefined && this.deferred !== undefined) {
      for (const typeUrl of this.deferred) {
        const rank = this.rank(typeUrl);
        if (rank < bestRank) {
          best = typeUrl;
          bestRank = rank;
        }
      }
    }
    if (best !== undefined) from?.delete(best);
    return best;
  }
}
