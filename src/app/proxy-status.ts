import { realClock, type Clock, type TimerHandle } from '../core/clock.js';
import { visitInSlices } from '../core/time-slices.js';
/**
 * `accord status` across replicas: each replica publishes what its own xDS streams know (per proxy,
 * per xDS type) to the store as a report with a TTL, and any replica answers from all unexpired
 * reports. No replica calls another; a replica that dies drops out when its report expires.
 */
import type { Logger } from '../observability/logger.js';
import type { Workload } from '../core/workload.js';
import type { Store } from '../registry/store.js';
import { TypeUrl } from '../xds/contract.js';
import type { ProxySummary, TypeSummary } from '../xds/index.js';

export type SyncState = 'SYNCED' | 'SENT' | 'STALE' | 'NACKED' | 'NOT SENT';

/** The xDS types `accord status` shows, in the order Envoy applies them. */
export const STATUS_TYPES = [
  ['CDS', TypeUrl.Cluster],
  ['EDS', TypeUrl.ClusterLoadAssignment],
  ['LDS', TypeUrl.Listener],
  ['RDS', TypeUrl.RouteConfiguration],
  ['SDS', TypeUrl.Secret],
] as const;
export type StatusType = (typeof STATUS_TYPES)[number][0];

export interface ProxyNack {
  readonly type: StatusType;
  /** ISO 8601. */
  readonly at: string;
  readonly errorDetail: string;
}

export interface ProxySyncRow {
  /** The proxy's node id: its workload id. */
  readonly workload: string;
  /** Undefined when the node id names no registered workload (yet, or any more). */
  readonly service: string | null;
  readonly namespace: string | null;
  /** The control-plane replica holding the stream. */
  readonly replica: string;
  readonly peer: string;
  /** ISO 8601. */
  readonly connectedAt: string;
  readonly sync: Readonly<Record<StatusType, SyncState>>;
  /** The last NACK of each type still in force (its resources not ACKed since), reason in full. */
  readonly nacks: readonly ProxyNack[];
  /** The leaf this replica issued to the workload, if still valid. */
  readonly certificate: { readonly serial: string; readonly notAfter: string } | null;
}

export interface ProxyStatusAnswer {
  readonly proxies: readonly ProxySyncRow[];
  /** Replicas whose reports were read, and when each was published (ISO 8601). */
  readonly replicas: readonly { readonly replica: string; readonly publishedAt: string }[];
  /** A response not ACKed (nor NACKed) within this many seconds is STALE. */
  readonly staleAfterSeconds: number;
}

interface Report {
  readonly version: 1;
  readonly replica: string;
  readonly publishedAt: number;
  readonly proxies: readonly ProxySyncRow[];
}

export const REPORT_KIND = 'proxy-status';
/** Publishing may take at most 1/PUBLISH_SHARE of a replica's time: the interval grows with the fleet. */
const PUBLISH_SHARE = 50;
/** A NACK's reason is kept up to this many characters (Envoy's are a few hundred). */
const NACK_DETAIL_LIMIT = 4096;

/** The state of one type on one stream at `now`. */
export function syncStateOf(type: TypeSummary | undefined, now: number, staleAfterMs: number): SyncState {
  if (!type || (type.resources === 0 && type.lastNonce === undefined)) return 'NOT SENT';
  if (type.nacked) return 'NACKED';
  if (type.oldestUnackedAt !== undefined) return now - type.oldestUnackedAt >= staleAfterMs ? 'STALE' : 'SENT';
  return 'SYNCED';
}

export interface ProxyStatusDeps {
  readonly store: Pick<Store, 'putReport' | 'listReports'>;
  readonly replica: string;
  /** This replica's proxies; each summary may be built as it is reached (see `publish`). */
  readonly proxies: () => Iterable<ProxySummary>;
  readonly workload: (id: string) => Workload | undefined;
  readonly leaf: (workloadId: string) => { serial: string; notAfter: number } | undefined;
  readonly logger: Logger;
  readonly now: () => number;
  readonly staleAfterMs: number;
  /** How often this replica publishes, at the most (a large fleet stretches it, see PUBLISH_SHARE); its report lives three intervals. */
  readonly intervalMs: number;
  /** Timers; the real clock by default. */
  readonly clock?: Clock;
  /**
   * Whether a fleet is (re)connecting in numbers (asked every 250 ms while it is): a publish due
   * meanwhile waits, so that the proxies' config goes out first (building the report at 10,000
   * proxies is ≈ 0.1 s and 40 MB of garbage each time), but no longer than `maxDeferMs`.
   */
  readonly deferWhile?: () => boolean;
  readonly maxDeferMs?: number;
}

/** How often a deferred publish asks again whether the storm is over. */
const DEFER_CHECK_MS = 250;

export class ProxyStatusReporter {
  private timer: TimerHandle | undefined;
  private readonly clock: Clock;
  private failing = false;
  private stopped = false;
  /** The interval, stretched so that publishing takes at most 1/PUBLISH_SHARE of the time (a large fleet's report is megabytes). */
  private delayMs: number;
  /** When the publish now due was first deferred. */
  private deferredSince: number | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: ProxyStatusDeps) {
    this.log = deps.logger.child({ component: 'proxy-status' });
    this.clock = deps.clock ?? realClock;
    this.delayMs = deps.intervalMs;
  }

  start(): void {
    const tick = (): void => {
      if (this.defer()) {
        this.timer = this.clock.setTimeout(tick, DEFER_CHECK_MS);
        return;
      }
      void this.publish().finally(() => {
        if (this.timer !== undefined) this.timer = this.clock.setTimeout(tick, this.delayMs);
      });
    };
    this.timer = this.clock.setTimeout(tick, 0);
  }

  stop(): void {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Whether the publish now due waits for a reconnect storm to end (see `deferWhile`). */
  private defer(): boolean {
    if (this.deps.deferWhile?.() !== true) {
      this.deferredSince = undefined;
      return false;
    }
    const now = this.clock.now();
    if (this.deferredSince === undefined) {
      this.deferredSince = now;
      this.log.debug('proxy status: publishing waits for the proxies reconnecting');
    }
    if (now - this.deferredSince < (this.deps.maxDeferMs ?? 0)) return true;
    this.deferredSince = undefined;
    return false;
  }

  /** This replica's rows now. */
  rows(): ProxySyncRow[] {
    const now = this.deps.now();
    return Array.from(this.deps.proxies(), (proxy) => this.row(proxy, now));
  }

  /** Each proxy's state per type, as the rows have it (what the metrics count) without the rows' other fields. */
  syncStates(): Record<StatusType, SyncState>[] {
    const now = this.deps.now();
    return Array.from(this.deps.proxies(), (proxy) => this.syncOf(proxy.types, now));
  }

  private syncOf(types: readonly TypeSummary[], now: number): Record<StatusType, SyncState> {
    const sync = {} as Record<StatusType, SyncState>;
    for (const [name, url] of STATUS_TYPES) sync[name] = syncStateOf(types.find((type) => type.typeUrl === url), now, this.deps.staleAfterMs);
    return sync;
  }

  private row(proxy: ProxySummary, now: number): ProxySyncRow {
    const workload = this.deps.workload(proxy.nodeId);
    const sync = this.syncOf(proxy.types, now);
    const nacks: ProxyNack[] = [];
    for (const [name, url] of STATUS_TYPES) {
      const lastNack = proxy.types.find((type) => type.typeUrl === url)?.lastNack;
      if (lastNack && sync[name] === 'NACKED') {
        nacks.push({ type: name, at: lastNack.at, errorDetail: lastNack.errorDetail.slice(0, NACK_DETAIL_LIMIT) });
      }
    }
    const leaf = this.deps.leaf(proxy.nodeId);
    return {
      workload: proxy.nodeId,
      service: workload?.service ?? null,
      namespace: workload?.namespace ?? null,
      replica: this.deps.replica,
      peer: proxy.peer,
      connectedAt: proxy.connectedAt,
      sync,
      nacks,
      certificate: leaf ? { serial: leaf.serial, notAfter: new Date(leaf.notAfter).toISOString() } : null,
    };
  }

  /**
   * Builds the report in time slices (src/core/time-slices.ts), row by row as JSON: at 10,000
   * proxies it is ≈ 0.1 s of work, which in one callback held up whatever push was going out.
   */
  async publish(): Promise<void> {
    const publishedAt = this.deps.now();
    const rows: string[] = [];
    const busyMs = await visitInSlices(this.deps.proxies(), (proxy) => rows.push(JSON.stringify(this.row(proxy, publishedAt))));
    // Stopped while the report was being built: the store may be closing.
    if (this.stopped) return;
    // The fields of `Report`, in its order.
    const text = `{"version":1,"replica":${JSON.stringify(this.deps.replica)},"publishedAt":${publishedAt},"proxies":[${rows.join(',')}]}`;
    this.delayMs = Math.max(this.deps.intervalMs, Math.ceil(busyMs * PUBLISH_SHARE));
    try {
      // The report lives three intervals and the longest a publish may wait, so one late publish
      // does not drop this replica's rows.
      await this.deps.store.putReport(REPORT_KIND, this.deps.replica, text, this.delayMs * 3 + (this.deps.maxDeferMs ?? 0));
      if (this.failing) this.log.info('proxy status published again');
      this.failing = false;
    } catch (error) {
      if (!this.failing) this.log.warn({ err: error }, 'cannot publish proxy status to the store; other replicas will not list this replica\'s proxies until it can');
      this.failing = true;
    }
  }

  /**
   * Every replica's rows. This replica's own rows are always current (even if the store is
   * unreachable); other replicas' come from their last unexpired report.
   */
  async fleet(): Promise<ProxyStatusAnswer> {
    const own = this.rows();
    const replicas = [{ replica: this.deps.replica, publishedAt: new Date(this.deps.now()).toISOString() }];
    const proxies: ProxySyncRow[] = [...own];
    let reports: readonly string[] = [];
    try {
      reports = await this.deps.store.listReports(REPORT_KIND);
    } catch (error) {
      this.log.warn({ err: error }, 'cannot read other replicas\' proxy status; answering with this replica\'s only');
    }
    for (const text of reports) {
      const report = parseReport(text);
      if (!report || report.replica === this.deps.replica) continue;
      replicas.push({ replica: report.replica, publishedAt: new Date(report.publishedAt).toISOString() });
      proxies.push(...report.proxies);
    }
    proxies.sort((a, b) => a.workload.localeCompare(b.workload) || a.replica.localeCompare(b.replica) || a.connectedAt.localeCompare(b.connectedAt));
    replicas.sort((a, b) => a.replica.localeCompare(b.replica));
    return { proxies, replicas, staleAfterSeconds: this.deps.staleAfterMs / 1000 };
  }
}

/** The newest valid leaf per workload across every replica's rows. */
export function leavesOf(answer: ProxyStatusAnswer, now: number): Map<string, { serial: string; notAfter: string }> {
  const leaves = new Map<string, { serial: string; notAfter: string }>();
  for (const row of answer.proxies) {
    const leaf = row.certificate;
    if (!leaf || Date.parse(leaf.notAfter) <= now) continue;
    const known = leaves.get(row.workload);
    if (!known || Date.parse(known.notAfter) < Date.parse(leaf.notAfter)) leaves.set(row.workload, leaf);
  }
  return leaves;
}

function parseReport(text: string): Report | undefined {
  try {
    const report = JSON.parse(text) as Partial<Report>;
    if (report.version !== 1 || typeof report.replica !== 'string' || typeof report.publishedAt !== 'number' || !Array.isArray(report.proxies)) return undefined;
    return report as Report;
  } catch {
    return undefined;
  }
}
