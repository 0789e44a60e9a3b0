import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { typeLabel } from './type-order.js';

export type StreamMode = 'sotw' | 'delta';

/** Plain-number tallies for one (type, mode): the per-push path only adds to these. */
interface Tally {
  readonly type: string;
  readonly mode: StreamMode;
  responses: number;
  acks: number;
  nacks: number;
  reported: { responses: number; acks: number; nacks: number };
}

type TallyField = 'responses' | 'acks' | 'nacks';

/** Observations held until the next scrape flushes them, at most this many per type. */
const MAX_BUFFERED_OBSERVATIONS = 50_000;

/**
 * The transport's Prometheus metrics (prefix accord_xds_). prom-client hashes labels on every
 * `inc`, which is measurable at 10,000 streams, so the hot counters and the push-latency
 * histogram are tallied in plain numbers and handed to prom-client when the registry is scraped.
 */
export class XdsMetrics {
  private readonly streams: Gauge<'service' | 'mode'>;
  private readonly denied: Counter<'type'>;
  private readonly refused: Counter<'reason'>;
  private readonly statusDenied: Counter<'code'>;
  private readonly counters: Record<TallyField, Counter<'type' | 'mode'>>;
  private readonly pushLatency: Histogram<'type'>;
  /** By type label (known types, or one label for all others), then mode: bounded whatever clients send. */
  private readonly tallies = new Map<string, Partial<Record<StreamMode, Tally>>>();
  private readonly latencies = new Map<string, number[]>();
  /** False if another XdsMetrics registered these metrics first: then count directly. */
  private readonly buffered: boolean;

  constructor(registry: Registry) {
    const existing = registry.getSingleMetric('accord_xds_responses_total') as Counter<'type' | 'mode'> | undefined;
    this.buffered = existing === undefined;
    const counter = (field: TallyField, name: string, help: string): Counter<'type' | 'mode'> =>
      (registry.getSingleMetric(name) as Counter<'type' | 'mode'> | undefined) ??
      new Counter({
        name,
        help,
        labelNames: ['type', 'mode'],
        registers: [registry],
        collect: () => this.report(field),
      });
    this.counters = {
      responses: counter('responses', 'accord_xds_responses_total', 'xDS responses sent'),
      acks: counter('acks', 'accord_xds_acks_total', 'xDS responses ACKed'),
      nacks: counter('nacks', 'accord_xds_nacks_total', 'xDS responses NACKed'),
    };
    this.streams =
      (registry.getSingleMetric('accord_xds_connected_streams') as Gauge<'service' | 'mode'> | undefined) ??
      new Gauge({
        name: 'accord_xds_connected_streams',
        help: 'Connected xDS streams by service (ads or resource type) and mode',
        labelNames: ['service', 'mode'],
        registers: [registry],
      });
    this.denied =
      (registry.getSingleMetric('accord_xds_denied_total') as Counter<'type'> | undefined) ??
      new Counter({
        name: 'accord_xds_denied_total',
        help: 'Streams ended because a requested resource was not authorized',
        labelNames: ['type'],
        registers: [registry],
      });
    this.refused =
      (registry.getSingleMetric('accord_xds_refused_streams_total') as Counter<'reason'> | undefined) ??
      new Counter({
        name: 'accord_xds_refused_streams_total',
        help: 'Streams refused or ended with an error, by reason',
        labelNames: ['reason'],
        registers: [registry],
      });
    this.statusDenied =
      (registry.getSingleMetric('accord_xds_status_denied_total') as Counter<'code'> | undefined) ??
      new Counter({
        name: 'accord_xds_status_denied_total',
        help: 'Client status (CSDS) calls refused by the status-reader check, by gRPC code',
        labelNames: ['code'],
        registers: [registry],
      });
    this.pushLatency =
      (registry.getSingleMetric('accord_xds_push_latency_seconds') as Histogram<'type'> | undefined) ??
      new Histogram({
        name: 'accord_xds_push_latency_seconds',
        help: "Time from the config source's change notification to the ACK of the response carrying it",
        labelNames: ['type'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
        collect: () => this.reportLatencies(),
      });
  }

  /** Type labels with pending tallies: bounded by the known types plus one, whatever clients send. */
  trackedTypeLabels(): number {
    return this.tallies.size;
  }

  streamOpened(service: string, mode: StreamMode): void {
    this.streams.inc({ service, mode });
  }

  streamClosed(service: string, mode: StreamMode): void {
    this.streams.dec({ service, mode });
  }

  responseSent(typeUrl: string, mode: StreamMode): void {
    this.add(typeUrl, mode, 'responses');
  }

  acked(typeUrl: string, mode: StreamMode, pushLatencyMs: number | undefined): void {
    this.add(typeUrl, mode, 'acks');
    if (pushLatencyMs === undefined) return;
    const label = typeLabel(typeUrl);
    if (!this.buffered) {
      this.pushLatency.observe({ type: label }, pushLatencyMs / 1000);
      return;
    }
    let pending = this.latencies.get(label);
    if (!pending) {
      pending = [];
      this.latencies.set(label, pending);
    }
    pending.push(pushLatencyMs / 1000);
    if (pending.length >= MAX_BUFFERED_OBSERVATIONS) this.reportLatencies();
  }

  nacked(typeUrl: string, mode: StreamMode): void {
    this.add(typeUrl, mode, 'nacks');
  }

  deniedResource(typeUrl: string): void {
    this.denied.inc({ type: typeLabel(typeUrl) });
  }

  /** `reason` must come from a bounded set chosen by the server, never from a client. */
  streamRefused(reason: string): void {
    this.refused.inc({ reason });
  }

  statusReaderDenied(code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED'): void {
    this.statusDenied.inc({ code });
  }

  private add(typeUrl: string, mode: StreamMode, field: TallyField): void {
    if (!this.buffered) {
      this.counters[field].inc({ type: typeLabel(typeUrl), mode });
      return;
    }
    const label = typeLabel(typeUrl);
    let byMode = this.tallies.get(label);
    if (!byMode) {
      byMode = {};
      this.tallies.set(label, byMode);
    }
    let tally = byMode[mode];
    if (!tally) {
      tally = { type: label, mode, responses: 0, acks: 0, nacks: 0, reported: { responses: 0, acks: 0, nacks: 0 } };
      byMode[mode] = tally;
    }
    tally[field] += 1;
  }

  /** Called by prom-client on scrape: hands the counts accumulated since the last scrape over. */
  private report(field: TallyField): void {
    for (const byMode of this.tallies.values()) {
      for (const tally of Object.values(byMode)) {
        const delta = tally[field] - tally.reported[field];
        if (delta === 0) continue;
        this.counters[field].inc({ type: tally.type, mode: tally.mode }, delta);
        tally.reported[field] = tally[field];
      }
    }
  }

  private reportLatencies(): void {
    for (const [label, pending] of this.latencies) {
      for (const seconds of pending) this.pushLatency.observe({ type: label }, seconds);
      pending.length = 0;
    }
  }
}
