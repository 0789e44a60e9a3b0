import os from 'node:os';
import { Worker } from 'node:worker_threads';
import type { CertificateAuthority, IssuedLeaf, LeafJob, LeafJobTemplate, LeafRequest } from '../../../src/ca/authority.js';
import { ISSUE_WORKER_SOURCE } from './issue-worker-source.js';
import type { KeyAlgorithm } from '../../../src/ca/keys.js';

export interface IssuancePoolOptions {
  /** Worker threads (default: available parallelism). */
  readonly size?: number;
  /** Leaves per message to a worker (default 128). */
  readonly batchSize?: number;
}

interface WorkerJob extends LeafJob {
  readonly keyAlgorithm: KeyAlgorithm;
}

interface WorkerReply {
  readonly id: number;
  readonly results?: readonly { readonly certPem: string; readonly keyPem: string }[];
  readonly error?: string;
}

interface PooledWorker {
  readonly worker: Worker;
  templateId?: number;
  readonly pending: Map<number, { resolve: (reply: WorkerReply) => void; reject: (err: Error) => void }>;
}

/**
 * Worker threads for bulk issuance (re-keying a fleet after an issuer switch). The CA decides
 * serials and validity and records what was issued; workers generate keys and sign.
 */
export class IssuancePool {
  private readonly workers: PooledWorker[];
  private readonly batchSize: number;
  private lastTemplate?: { ca: CertificateAuthority; fingerprint: string; template: LeafJobTemplate; id: number };
  private nextMessageId = 1;
  private nextTemplateId = 1;
  private cursor = 0;
  private closed = false;

  constructor(options: IssuancePoolOptions = {}) {
    const size = Math.max(1, options.size ?? os.availableParallelism());
    this.batchSize = Math.max(1, options.batchSize ?? 128);
    this.workers = Array.from({ length: size }, () => this.spawn());
  }

  get size(): number {
    return this.workers.length;
  }

  private spawn(): PooledWorker {
    const pooled: PooledWorker = { worker: new Worker(ISSUE_WORKER_SOURCE, { eval: true }), pending: new Map() };
    pooled.worker.on('message', (reply: WorkerReply) => {
      const waiter = pooled.pending.get(reply.id);
      pooled.pending.delete(reply.id);
      waiter?.resolve(reply);
    });
    const failAll = (err: Error): void => {
      for (const waiter of pooled.pending.values()) waiter.reject(err);
      pooled.pending.clear();
    };
    pooled.worker.on('error', failAll);
    pooled.worker.on('exit', (code) => failAll(new Error(`issuance worker exited with code ${code}`)));
    return pooled;
  }

  /**
   * Issues one leaf per request, in order. Requests are checked (and refused with IssuanceError)
   * before any work starts, so a bad request fails the whole call without partial issuance.
   */
  async issueMany(ca: CertificateAuthority, requests: readonly LeafRequest[]): Promise<IssuedLeaf[]> {
    if (this.closed) throw new Error('IssuancePool: closed');
    const withNames = requests.findIndex((r) => (r.dnsNames?.length ?? 0) + (r.ipAddresses?.length ?? 0) > 0);
    if (withNames >= 0) throw new Error(`requests[${withNames}]: DNS/IP SANs are issued with CertificateAuthority.issue, not the pool`);
    const jobs: WorkerJob[] = requests.map((request) => ({
      ...ca.planLeaf(request),
      keyAlgorithm: request.keyAlgorithm ?? ca.keyAlgorithm,
    }));
    const { template, id: templateId } = this.templateFor(ca);
    const batches: Promise<IssuedLeaf[]>[] = [];
    for (let start = 0; start < jobs.length; start += this.batchSize) {
      const batch = jobs.slice(start, start + this.batchSize);
      const pooled = this.workers[this.cursor++ % this.workers.length];
      batches.push(
        this.send(pooled, template, templateId, batch).then((results) =>
          batch.map((job, i) => {
            ca.recordIssued(job);
            return { ...ca.issuedFrom(job, results[i].certPem), keyPem: results[i].keyPem };
          }),
        ),
      );
    }
    return (await Promise.all(batches)).flat();
  }

  private templateFor(ca: CertificateAuthority): { template: LeafJobTemplate; id: number } {
    if (this.lastTemplate && this.lastTemplate.ca === ca && this.lastTemplate.fingerprint === ca.issuerFingerprint) {
      return this.lastTemplate;
    }
    this.lastTemplate = { ca, fingerprint: ca.issuerFingerprint, template: ca.leafJobTemplate(), id: this.nextTemplateId++ };
    return this.lastTemplate;
  }

  private send(pooled: PooledWorker, template: LeafJobTemplate, templateId: number, jobs: readonly WorkerJob[]): Promise<readonly { certPem: string; keyPem: string }[]> {
    const id = this.nextMessageId++;
    const includeTemplate = pooled.templateId !== templateId;
    pooled.templateId = templateId;
    return new Promise((resolve, reject) => {
      pooled.pending.set(id, {
        resolve: (reply) => {
          if (reply.error !== undefined || !reply.results) reject(new Error(`issuance worker: ${reply.error ?? 'no results'}`));
          else resolve(reply.results);
        },
        reject,
      });
      pooled.worker.postMessage({ id, templateId, template: includeTemplate ? { ...template, id: templateId } : undefined, jobs });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.workers.map((pooled) => pooled.worker.terminate()));
  }
}
