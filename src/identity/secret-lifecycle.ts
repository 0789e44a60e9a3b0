import type { Registry, Counter } from 'prom-client';
import type { Clock, TimerHandle } from '../core/clock.js';
import type { Workload } from '../core/workload.js';
import type { Logger } from '../observability/logger.js';
import { issuedCertificates } from '../observability/mesh-metrics.js';
import type { EncodedResource } from '../xds/contract.js';
import type { IssueTrigger, SecretIssuer } from './secret-issuer.js';
import type { TrustLedger } from './trust-ledger.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from './secret-names.js';

/** Encodes a plain secret as the xDS resource sent to proxies (the transport's encoder). */
export type SecretEncoder = (name: string, secret: object) => EncodedResource;

export interface SecretLifecyclesDeps {
  readonly issuer: SecretIssuer;
  readonly ledger: TrustLedger;
  readonly encode: SecretEncoder;
  readonly workload: (id: string) => Workload | undefined;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: Registry;
}

/** What the stream side tells a proxy's secrets about its streams. */
export interface SecretHost {
  /** Streams that may read secrets, and streams still served (not denied). */
  streams(): { readonly authenticated: number; readonly served: number };
  /** The proxy's secrets changed: push them. */
  notify(): void;
}

/** The encoded secret is all a proxy is sent: the PEM strings it was made from are not kept (≈ 1.8 KB per proxy). */
interface HeldLeaf {
  readonly rotateAt: number;
  readonly resource: EncodedResource;
}

/**
 * The SDS secrets of one proxy (workload + flavour): its `default` leaf from issue through
 * scheduled rotation and re-issue on an issuer switch to release when its streams end; and its
 * `ROOTCA` bundle. What it ACKs goes to the trust ledger.
 */
export class ProxySecrets {
  private held: HeldLeaf | undefined;
  /**
   * An authenticated stream asked for `default`, or an authenticated Envoy stream (which will ask)
   * opened: issue as soon as the workload is known.
   */
  private wanted = false;
  private issuing: Promise<void> | undefined;
  /** The issuer switched while a leaf was being signed by the one before: issue again once it is in. */
  private reissue = false;
  /** The first leaf is being issued: `default` and `ROOTCA` then go out together, in one response. */
  private firstLeafPending = false;
  /** Either the scheduled rotation or the retry after a failed issue. */
  private timer: TimerHandle | undefined;
  private closed = false;

  constructor(
    readonly workloadId: string,
    private readonly host: SecretHost,
    private readonly owner: SecretLifecycles,
    private readonly deps: SecretLifecyclesDeps,
  ) {}

  /** Whether this proxy holds a leaf from this replica over an authenticated stream. */
  get holdsLeaf(): boolean {
    return this.held !== undefined && this.host.streams().authenticated > 0;
  }

  /**
   * True while this proxy's first leaf is being signed: its secrets are not ready yet, so a proxy
   * gets `default` and `ROOTCA` in one response rather than the bundle first and its leaf after.
   */
  get issuingFirstLeaf(): boolean {
    return this.firstLeafPending;
  }

  /** `default` (once issued) and `ROOTCA`, encoded. */
  resources(): Map<string, EncodedResource> {
    const secrets = new Map<string, EncodedResource>();
    if (this.held) secrets.set(DEFAULT_SECRET, this.held.resource);
    secrets.set(ROOTCA_SECRET, this.owner.trustResource(this.workloadId));
    return secrets;
  }

  /** An authenticated stream subscribed to `default`. */
  request(): void {
    this.wanted = true;
    if (!this.held) this.issue('request');
  }

  /**
   * An Envoy asks for `default` as soon as it has the clusters and listeners that name it: sign
   * its leaf now, while that config goes out, rather than after (as Istio's agent signs at start);
   * if this replica has not seen the registration yet, once it has.
   */
  prefetch(): void {
    this.wanted = true;
    if (!this.held && this.deps.workload(this.workloadId)) this.issue('request');
  }

  /** The mesh state changed: a proxy may have asked before this replica saw its registration. */
  refresh(): void {
    if (this.wanted && !this.held && !this.timer) this.issue('request');
  }

  acked(name: string, version: string): void {
    this.deps.ledger.recordAck(this.workloadId, name, version);
  }

  /** Trust material or the issuing CA changed: push the bundle, and re-issue if the issuer switched. */
  trustChanged(): void {
    const streams = this.host.streams();
    if (streams.authenticated === 0 || streams.served === 0) return;
    // Trust first, then the leaf: the new leaf follows once issued.
    this.host.notify();
    if (this.held && this.deps.ledger.mustReissue(this.workloadId)) this.issue('rotation');
  }

  /** No stream is served any more: stop rotating (the leaf stays until the proxy leaves). */
  release(): void {
    this.deps.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The proxy's last stream closed. */
  close(): void {
    this.closed = true;
    this.release();
    this.owner.remove(this);
    this.deps.ledger.forgetProxy(this.workloadId);
  }

  private issue(trigger: IssueTrigger): void {
    if (this.issuing) return;
    const workload = this.deps.workload(this.workloadId);
    const log = this.owner.log;
    if (!workload) {
      log.info({ workloadId: this.workloadId }, 'certificate requested before the registration reached this replica; issuing once it does');
      return;
    }
    this.firstLeafPending = this.held === undefined;
    this.issuing = Promise.resolve()
      .then(() => this.deps.issuer.issueLeaf(workload, this.deps.clock.now(), trigger))
      .then(
        (leaf) => {
          this.firstLeafPending = false;
          const resource = this.deps.encode(DEFAULT_SECRET, leaf.secret);
          this.deps.ledger.recordSdsLeaf(this.workloadId, resource.version, leaf);
          if (this.closed) return;
          this.reissue = this.deps.ledger.mustReissue(this.workloadId);
          const previous = this.held;
          this.held = { rotateAt: leaf.rotateAt, resource };
          this.owner.issued.inc({ result: previous ? 'rotated' : 'issued' });
          log.info(
            { workloadId: this.workloadId, serial: leaf.serial, notAfter: new Date(leaf.notAfter).toISOString(), rotated: previous !== undefined },
            'workload certificate issued',
          );
          this.scheduleRotation();
          if (!previous || previous.resource.version !== resource.version) this.host.notify();
        },
        (error: unknown) => {
          // Without a leaf the bundle still goes out.
          if (this.firstLeafPending) {
            this.firstLeafPending = false;
            if (!this.closed) this.host.notify();
          }
          const retryAfterMs = (error as { retryAfterMs?: unknown }).retryAfterMs;
          const limited = typeof retryAfterMs === 'number';
          this.owner.issued.inc({ result: limited ? 'rate_limited' : 'failed' });
          if (limited) log.warn({ workloadId: this.workloadId, retryAfterMs, reason: (error as Error).message }, 'certificate issuance rate-limited; retrying later');
          else log.error({ err: error, workloadId: this.workloadId }, 'certificate issuance failed');
          if (!this.closed && !this.timer && this.host.streams().served > 0) {
            this.timer = this.deps.clock.setTimeout(() => {
              this.timer = undefined;
              this.issue(trigger);
            }, limited ? Math.max(retryAfterMs, 1_000) : 5_000);
          }
        },
      )
      .finally(() => {
        this.issuing = undefined;
        if (this.reissue && !this.closed) {
          this.reissue = false;
          this.issue('rotation');
        }
      });
  }

  private scheduleRotation(): void {
    this.deps.clock.clearTimeout(this.timer);
    const held = this.held;
    if (!held) return;
    // The clock clamps delays past Node's 32-bit timer limit (core/clock.ts).
    this.timer = this.deps.clock.setTimeout(() => {
      this.timer = undefined;
      this.issue('rotation');
    }, held.rotateAt - this.deps.clock.now());
  }
}

/**
 * Every connected proxy's SDS secrets on this replica, and the encoded `ROOTCA` bundles they share
 * (one per set of roots, rebuilt when the CRL or the rotation phase changes).
 */
export class SecretLifecycles {
  private readonly proxies = new Set<ProxySecrets>();
  private readonly trustResources = new Map<string, EncodedResource>();
  readonly issued: Counter<'result'>;
  readonly log: Logger;

  constructor(private readonly deps: SecretLifecyclesDeps) {
    this.issued = issuedCertificates(deps.metrics);
    this.log = deps.logger.child({ component: 'mesh-source' });
  }

  open(workloadId: string, host: SecretHost): ProxySecrets {
    const proxy = new ProxySecrets(workloadId, host, this, this.deps);
    this.proxies.add(proxy);
    return proxy;
  }

  remove(proxy: ProxySecrets): void {
    this.proxies.delete(proxy);
  }

  /** Workloads whose proxies hold an SDS certificate from this replica (the fleet a root rotation waits for). */
  holders(): string[] {
    const ids = new Set<string>();
    for (const proxy of this.proxies) if (proxy.holdsLeaf) ids.add(proxy.workloadId);
    return [...ids];
  }

  trustResource(workloadId: string): EncodedResource {
    const bundle = this.deps.issuer.trustBundle(workloadId);
    // Keyed by the roots only: the cache is cleared whenever the CRL or the rotation phase changes.
    const key = bundle.fingerprints.join(',');
    let resource = this.trustResources.get(key);
    if (!resource) {
      resource = this.deps.encode(ROOTCA_SECRET, bundle.secret());
      this.trustResources.set(key, resource);
      this.deps.ledger.recordTrustVersion(resource.version, bundle.fingerprints);
    }
    return resource;
  }

  /** The CRL or the rotation phase changed: bundles are rebuilt on next read. */
  clearTrustCache(): void {
    this.trustResources.clear();
  }

  /** Trust changed for one workload's proxies, or (no id) for every proxy. */
  trustChanged(workloadId?: string): void {
    for (const proxy of [...this.proxies]) if (workloadId === undefined || proxy.workloadId === workloadId) proxy.trustChanged();
  }
}
