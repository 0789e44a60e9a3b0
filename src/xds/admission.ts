/** Limits on concurrent discovery streams; see XdsLimits for what each means. */
export interface AdmissionLimits {
  readonly maxStreams: number;
  readonly maxPendingStreams: number;
  readonly maxStreamsPerPeer: number;
  readonly maxPendingStreamsPerPeer: number;
  readonly maxStreamsPerWorkload: number;
}

/** Why a stream was not admitted: a bounded metric label and a message for the client and the log. */
export interface AdmissionRefusal {
  readonly reason: 'max_streams' | 'max_pending_streams' | 'peer_streams' | 'peer_pending_streams' | 'workload_streams';
  readonly message: string;
}

interface PeerCount {
  total: number;
  pending: number;
}

/** One admitted stream's place in the counts. */
export interface AdmissionTicket {
  /**
   * Runs `start` once the stream may be served: at once, or, while `maxPendingStreams` streams are
   * being set up, when one of them is done (first come, first served). A reconnect storm is paced
   * by the control plane's own capacity instead of refused into client back-off.
   */
  whenStarted(start: () => void): void;
  /** Waiting for a place among the pending streams. */
  readonly isQueued: boolean;
  /** The config source accepted the stream for this node: it stops counting as pending. */
  authenticated(nodeId: string): AdmissionRefusal | undefined;
  readonly isPending: boolean;
  /** The stream ended; idempotent. */
  release(): void;
}

/**
 * Counts discovery streams so that no caller can crowd out the others: streams that have not yet
 * been accepted by the config source ("pending": no first request yet, or `open()` still running)
 * are capped apart from accepted ones, every remote IP has its own caps, and every workload (node
 * id, once accepted) has one. Maps are keyed only by peers and workloads with open streams, so
 * they are bounded by the stream limits.
 */
export class StreamAdmission {
  private total = 0;
  private pending = 0;
  /** Admitted streams waiting for a pending place, oldest first. */
  private readonly queue = new Map<number, () => void>();
  private nextQueued = 0;
  private readonly peers = new Map<string, PeerCount>();
  private readonly workloads = new Map<string, number>();

  private readonly counters: AdmissionCounters;

  constructor(private readonly limits: AdmissionLimits) {
    this.counters = {
      limits,
      queue: this.queue,
      peers: this.peers,
      workloads: this.workloads,
      nextQueueId: () => this.nextQueued++,
      leavePending: () => {
        this.pending -= 1;
        this.startQueued();
      },
      leaveTotal: () => {
        this.total -= 1;
      },
    };
  }

  get openStreams(): number {
    return this.total;
  }

  get pendingStreams(): number {
    return this.pending;
  }

  get queuedStreams(): number {
    return this.queue.size;
  }

  /**
   * A new stream from `peer` (its IP address): a ticket, or why it is refused. Over the total and
   * per-address caps it is refused; over the global pending cap it waits its turn (`whenStarted`):
   * one address still cannot hold more than its own pending cap, waiting or not.
   */
  admit(peer: string): AdmissionTicket | AdmissionRefusal {
    const limits = this.limits;
    if (this.total >= limits.maxStreams) return { reason: 'max_streams', message: `too many xDS streams (limit ${limits.maxStreams})` };
    const counts = this.peers.get(peer) ?? { total: 0, pending: 0 };
    if (counts.total >= limits.maxStreamsPerPeer) {
      return { reason: 'peer_streams', message: `too many xDS streams from this address (limit ${limits.maxStreamsPerPeer})` };
    }
    if (counts.pending >= limits.maxPendingStreamsPerPeer) {
      return { reason: 'peer_pending_streams', message: `too many xDS streams awaiting authentication from this address (limit ${limits.maxPendingStreamsPerPeer})` };
    }
    counts.total += 1;
    counts.pending += 1;
    this.peers.set(peer, counts);
    this.total += 1;
    const queued = this.pending >= limits.maxPendingStreams;
    if (!queued) this.pending += 1;
    return this.ticket(peer, counts, queued);
  }

  /** Starts waiting streams while pending places are free. */
  private startQueued(): void {
    while (this.pending < this.limits.maxPendingStreams) {
      const next = this.queue.entries().next();
      if (next.done) return;
      const [id, start] = next.value;
      this.queue.delete(id);
      this.pending += 1;
      start();
    }
  }

  private ticket(peer: string, counts: PeerCount, initiallyQueued: boolean): AdmissionTicket {
    return new Ticket(this.counters, peer, counts, initiallyQueued);
  }
}

/** What a ticket changes in its admission's counts (one object per admission, not closures per stream). */
interface AdmissionCounters {
  readonly limits: AdmissionLimits;
  readonly queue: Map<number, () => void>;
  readonly peers: Map<string, PeerCount>;
  readonly workloads: Map<string, number>;
  nextQueueId(): number;
  /** A pending place (not a queued one) is free again. */
  leavePending(): void;
  leaveTotal(): void;
}

/** A class, not an object literal of closures: one is held by every open stream, so its size is per proxy. */
class Ticket implements AdmissionTicket {
  private queued: boolean;
  private queueId: number | undefined;
  private pending = true;
  private released = false;
  private workload: string | undefined;

  constructor(
    private readonly counters: AdmissionCounters,
    private readonly peer: string,
    private readonly counts: PeerCount,
    initiallyQueued: boolean,
  ) {
    this.queued = initiallyQueued;
  }

  get isQueued(): boolean {
    return this.queued;
  }

  get isPending(): boolean {
    return this.pending;
  }

  whenStarted(start: () => void): void {
    if (this.released) return;
    if (!this.queued) {
      start();
      return;
    }
    this.queueId = this.counters.nextQueueId();
    this.counters.queue.set(this.queueId, () => {
      this.queued = false;
      start();
    });
  }

  authenticated(nodeId: string): AdmissionRefusal | undefined {
    if (this.released || !this.pending || this.queued) return undefined;
    this.leavePending();
    const { workloads, limits } = this.counters;
    const streams = workloads.get(nodeId) ?? 0;
    if (streams >= limits.maxStreamsPerWorkload) {
      return { reason: 'workload_streams', message: `too many xDS streams for this workload (limit ${limits.maxStreamsPerWorkload})` };
    }
    workloads.set(nodeId, streams + 1);
    this.workload = nodeId;
    return undefined;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.leavePending();
    this.counters.leaveTotal();
    this.counts.total -= 1;
    if (this.counts.total === 0) this.counters.peers.delete(this.peer);
    const workload = this.workload;
    if (workload !== undefined) {
      const workloads = this.counters.workloads;
      const left = (workloads.get(workload) ?? 1) - 1;
      if (left === 0) workloads.delete(workload);
      else workloads.set(workload, left);
    }
  }

  private leavePending(): void {
    if (!this.pending) return;
    this.pending = false;
    this.counts.pending -= 1;
    if (this.queued) {
      if (this.queueId !== undefined) this.counters.queue.delete(this.queueId);
      return;
    }
    this.counters.leavePending();
  }
}

/** The IP address of a grpc-js peer string (`1.2.3.4:5`, `::1:5`, `[::1]:5`, `unix:/path`). */
export function peerAddress(peer: string): string {
  if (peer.startsWith('unix:')) return 'unix';
  if (peer.startsWith('[')) {
    const end = peer.indexOf(']');
    return end > 0 ? peer.slice(1, end) : peer;
  }
  const colon = peer.lastIndexOf(':');
  return colon > 0 ? peer.slice(0, colon) : peer;
}
