import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CertificateAuthority, IssuedLeaf, LeafJob, LeafJobTemplate, LeafRequest } from './authority.js';
import { ISSUE_WORKER_SOURCE } from './issue-worker-source.js';
import type { KeyAlgorithm } from './keys.js';

export interface IssuancePoolOptions {
  /** Worker threads (default: available parallelism). */
  readonly size?: number;
  /** Leaves per message to a worker (default 128). */
  readonly batchSize?: number;
  /** A worker idle this long is stopped (its isolate's memory returned) and started again on demand; default 10 s. */
  readonly idleMs?: number;
}

interface WorkerJob extends LeafJob {
  readonly keyAlgorithm: KeyAlgorithm;
}

interface WorkerResult {
  readonly certPem: string;
  readonly keyPem: string;
}

interface WorkerReply {
  readonly id: number;
  readonly results?: readonly WorkerResult[];
  readonly error?: string;
}

interface PooledWorker {
  readonly worker: Worker;
  templateId?: number;
  readonly pending: Map<number, { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void }>;
  idleTimer?: NodeJS.Timeout;
}

const NO_NAMES = 'DNS/IP SANs are issued with CertificateAuthority.issue, not the pool';

/** One single-leaf request waiting for the next batch to its CA. */
interface QueuedJob {
  readonly job: WorkerJob;
  readonly resolve: (result: WorkerResult) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Worker threads that generate leaf keys and sign (the CPU of issuance), so a reconnect storm's
 * certificates do not queue behind the event loop. The CA decides serials and validity on the
 * caller's thread before any work starts and records each leaf when it comes back; a worker only
 * sees planned jobs and the issuer's template. Workers start on demand and stop when idle, so a
 * steady fleet pays no memory for them; a worker that dies fails its jobs (their callers retry) and
 * is replaced on the next request.
 */
export class IssuancePool {
  /** A slot is empty until its worker is needed, and again after it idled or died. */
  private readonly workers: (PooledWorker | undefined)[];
  private readonly batchSize: number;
  private readonly idleMs: number;
  private lastTemplate?: { ca: CertificateAuthority; fingerprint: string; template: LeafJobTemplate; id: number };
  /** Single-leaf requests collected within one turn of the event loop, per CA: sent as one message. */
  private readonly queued = new Map<CertificateAuthority, QueuedJob[]>();
  private flushScheduled = false;
  private nextMessageId = 1;
  private nextTemplateId = 1;
  private cursor = 0;
  private closed = false;

  constructor(options: IssuancePoolOptions = {}) {
    const size = Math.max(1, options.size ?? os.availableParallelism());
    this.batchSize = Math.max(1, options.batchSize ?? 128);
    this.idleMs = Math.max(0, options.idleMs ?? 10_000);
    this.workers = new Array<PooledWorker | undefined>(size).fill(undefined);
  }

  get size(): number {
    return this.workers.length;
  }

  /** Workers running now. */
  get running(): number {
    return this.workers.filter((pooled) => pooled !== undefined).length;
  }

  private spawn(slot: number): PooledWorker {
    const pooled: PooledWorker = { worker: new Worker(ISSUE_WORKER_SOURCE, { eval: true }), pending: new Map() };
    this.workers[slot] = pooled;
    // The pool never keeps a process alive on its own: pending callers or servers do.
    pooled.worker.unref();
    pooled.worker.on('message', (reply: WorkerReply) => {
      const waiter = pooled.pending.get(reply.id);
      pooled.pending.delete(reply.id);
      waiter?.resolve(reply);
      if (pooled.pending.size === 0) this.retireWhenIdle(slot, pooled);
    });
    const fail = (err: Error): void => {
      if (this.workers[slot] === pooled) this.workers[slot] = undefined;
      clearTimeout(pooled.idleTimer);
      for (const waiter of pooled.pending.values()) waiter.reject(err);
      pooled.pending.clear();
    };
    pooled.worker.on('error', fail);
    pooled.worker.on('exit', (code) => fail(new Error(`issuance worker exited with code ${code}`)));
    return pooled;
  }

  private retireWhenIdle(slot: number, pooled: PooledWorker): void {
    clearTimeout(pooled.idleTimer);
    pooled.idleTimer = setTimeout(() => {
      if (pooled.pending.size > 0 || this.workers[slot] !== pooled) return;
      this.workers[slot] = undefined;
      void pooled.worker.terminate();
    }, this.idleMs);
    pooled.idleTimer.unref();
  }

  /**
   * One leaf. The request is checked (IssuanceError) and planned now; keygen and signing run in a
   * worker, batched with the other requests of this turn of the event loop.
   */
  issue(ca: CertificateAuthority, request: LeafRequest): Promise<IssuedLeaf> {
    try {
      const job = this.plan(ca, request);
      return new Promise<WorkerResult>((resolve, reject) => {
        let queue = this.queued.get(ca);
        if (!queue) this.queued.set(ca, (queue = []));
        queue.push({ job, resolve, reject });
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(() => this.flush());
        }
      }).then((result) => this.complete(ca, job, result));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  /**
   * Issues one leaf per request, in order. Requests are checked (and refused with IssuanceError)
   * before any work starts, so a bad request fails the whole call without partial issuance.
   */
  async issueMany(ca: CertificateAuthority, requests: readonly LeafRequest[]): Promise<IssuedLeaf[]> {
    const withNames = requests.findIndex((r) => (r.dnsNames?.length ?? 0) + (r.ipAddresses?.length ?? 0) > 0);
    if (withNames >= 0) throw new Error(`requests[${withNames}]: ${NO_NAMES}`);
    const jobs = requests.map((request) => this.plan(ca, request));
    const batches: Promise<IssuedLeaf[]>[] = [];
    for (let start = 0; start < jobs.length; start += this.batchSize) {
      const batch = jobs.slice(start, start + this.batchSize);
      batches.push(this.send(ca, batch).then((results) => batch.map((job, i) => this.complete(ca, job, results[i]))));
    }
    return (await Promise.all(batches)).flat();
  }

  async close(): Promise<void> {
    this.closed = true;
    const closing = new Error('IssuancePool: closed');
    for (const queue of this.queued.values()) for (const queued of queue) queued.reject(closing);
    this.queued.clear();
    const running = this.workers.filter((pooled): pooled is PooledWorker => pooled !== undefined);
    this.workers.fill(undefined);
    await Promise.all(running.map((pooled) => pooled.worker.terminate()));
  }

  private plan(ca: CertificateAuthority, request: LeafRequest): WorkerJob {
    if (this.closed) throw new Error('IssuancePool: closed');
    if ((request.dnsNames?.length ?? 0) + (request.ipAddresses?.length ?? 0) > 0) {
      throw new Error(NO_NAMES);
    }
    return { ...ca.planLeaf(request), keyAlgorithm: request.keyAlgorithm ?? ca.keyAlgorithm };
  }

  private complete(ca: CertificateAuthority, job: WorkerJob, result: WorkerResult | undefined): IssuedLeaf {
    if (!result) throw new Error('issuance worker: missing result');
    ca.recordIssued(job);
    return { ...ca.issuedFrom(job, result.certPem), keyPem: result.keyPem };
  }

  private flush(): void {
    this.flushScheduled = false;
    const queued = [...this.queued];
    this.queued.clear();
    for (const [ca, queue] of queued) {
      for (let start = 0; start < queue.length; start += this.batchSize) {
        const batch = queue.slice(start, start + this.batchSize);
        this.send(
          ca,
          batch.map((queuedJob) => queuedJob.job),
        ).then(
          (results) => batch.forEach((queuedJob, i) => {
            const result = results[i];
            if (result) queuedJob.resolve(result);
            else queuedJob.reject(new Error('issuance worker: missing result'));
          }),
          (err: Error) => batch.forEach((queuedJob) => queuedJob.reject(err)),
        );
      }
    }
  }

  private templateFor(ca: CertificateAuthority): { template: LeafJobTemplate; id: number } {
    if (this.lastTemplate && this.lastTemplate.ca === ca && this.lastTemplate.fingerprint === ca.issuerFingerprint) {
      return this.lastTemplate;
    }
    this.lastTemplate = { ca, fingerprint: ca.issuerFingerprint, template: ca.leafJobTemplate(), id: this.nextTemplateId++ };
    return this.lastTemplate;
  }

  /** The least-loaded worker (round-robin among equals), started if its slot is empty. */
  private pick(): PooledWorker {
    let bestSlot = -1;
    let bestLoad = Infinity;
    for (let i = 0; i < this.workers.length; i++) {
      const slot = (this.cursor + i) % this.workers.length;
      const load = this.workers[slot]?.pending.size ?? 0;
      if (load < bestLoad) {
        bestSlot = slot;
        bestLoad = load;
      }
    }
    this.cursor += 1;
    const pooled = this.workers[bestSlot] ?? this.spawn(bestSlot);
    clearTimeout(pooled.idleTimer);
    return pooled;
  }

  private send(ca: CertificateAuthority, jobs: readonly WorkerJob[]): Promise<readonly WorkerResult[]> {
    if (this.closed) return Promise.reject(new Error('IssuancePool: closed'));
    const { template, id: templateId } = this.templateFor(ca);
    const pooled = this.pick();
    const id = this.nextMessageId++;
    const includeTemplate = pooled.templateId !== templateId;
    pooled.templateId = templateId;
    return new Promise((resolve, reject) => {
      pooled.pending.set(id, {
        resolve: (reply) => {
          if (reply.error !== undefined || !reply.results || reply.results.length !== jobs.length) {
            reject(new Error(`issuance worker: ${reply.error ?? 'wrong number of results'}`));
          } else resolve(reply.results);
        },
        reject,
      });
      pooled.worker.postMessage({ id, templateId, template: includeTemplate ? { ...template, id: templateId } : undefined, jobs });
    });
  }
}
