import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { typeLabel } from './type-order.js';

export type StreamMode = 'sotw' | 'delta';

type CounterChild = ReturnType<Counter<'type' | 'mode'>['labels']>;

interface TypeCounters {
  readonly responses: CounterChild;
  readonly acks: CounterChild;
  readonly nacks: CounterChild;
}

function existing<T>(registry: Registry, name: string): T | undefined {
  return registry.getSingleMetric(name) as T | undefined;
}

/**
 * The transport's Prometheus metrics (prefix accord_xds_). Label children are cached so the
 * per-push path does no label hashing.
 */
export class XdsMetrics {
  private readonly streams: Gauge<'service' | 'mode'>;
  private readonly responses: Counter<'type' | 'mode'>;
  private readonly acks: Counter<'type' | 'mode'>;
  private readonly nacks: Counter<'type' | 'mode'>;
  private readonly denied: Counter<'type'>;
  private readonly refused: Counter<'reason'>;
  private readonly pushLatency: Histogram<'type'>;
  /** By type URL (bounded: at most 32 types per stream are accepted, and labels fold unknown types). */
  private readonly children = new Map<string, Partial<Record<StreamMode, TypeCounters>>>();
  private readonly latencyChildren = new Map<string, ReturnType<Histogram<'type'>['labels']>>();

  constructor(registry: Registry) {
    this.streams =
      existing(registry, 'accord_xds_connected_streams') ??
      new Gauge({
        name: 'accord_xds_connected_streams',
        help: 'Connected xDS streams by service (ads or resource type) and mode',
        labelNames: ['service', 'mode'],
        registers: [registry],
      });
    this.responses =
      existing(registry, 'accord_xds_responses_total') ??
      new Counter({ name: 'accord_xds_responses_total', help: 'xDS responses sent', labelNames: ['type', 'mode'], registers: [registry] });
    this.acks =
      existing(registry, 'accord_xds_acks_total') ??
      new Counter({ name: 'accord_xds_acks_total', help: 'xDS responses ACKed', labelNames: ['type', 'mode'], registers: [registry] });
    this.nacks =
      existing(registry, 'accord_xds_nacks_total') ??
      new Counter({ name: 'accord_xds_nacks_total', help: 'xDS responses NACKed', labelNames: ['type', 'mode'], registers: [registry] });
    this.denied =
      existing(registry, 'accord_xds_denied_total') ??
      new Counter({
        name: 'accord_xds_denied_total',
        help: 'Streams ended because a requested resource was not authorized',
        labelNames: ['type'],
        registers: [registry],
      });
    this.refused =
      existing(registry, 'accord_xds_refused_streams_total') ??
      new Counter({
        name: 'accord_xds_refused_streams_total',
        help: 'Streams refused or ended with an error, by reason',
        labelNames: ['reason'],
        registers: [registry],
      });
    this.pushLatency =
      existing(registry, 'accord_xds_push_latency_seconds') ??
      new Histogram({
        name: 'accord_xds_push_latency_seconds',
        help: "Time from the config source's change notification to the ACK of the response carrying it",
        labelNames: ['type'],
        buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
        registers: [registry],
      });
  }

  streamOpened(service: string, mode: StreamMode): void {
    this.streams.labels(service, mode).inc();
  }

  streamClosed(service: string, mode: StreamMode): void {
    this.streams.labels(service, mode).dec();
  }

  responseSent(typeUrl: string, mode: StreamMode): void {
    this.counters(typeUrl, mode).responses.inc();
  }

  acked(typeUrl: string, mode: StreamMode, pushLatencyMs: number | undefined): void {
    this.counters(typeUrl, mode).acks.inc();
    if (pushLatencyMs === undefined) return;
    const label = typeLabel(typeUrl);
    let histogram = this.latencyChildren.get(label);
    if (!histogram) {
      histogram = this.pushLatency.labels(label);
      this.latencyChildren.set(label, histogram);
    }
    histogram.observe(pushLatencyMs / 1000);
  }

  nacked(typeUrl: string, mode: StreamMode): void {
    this.counters(typeUrl, mode).nacks.inc();
  }

  deniedResource(typeUrl: string): void {
    this.denied.labels(typeLabel(typeUrl)).inc();
  }

  streamRefused(reason: string): void {
    this.refused.labels(reason).inc();
  }

  private counters(typeUrl: string, mode: StreamMode): TypeCounters {
    let byMode = this.children.get(typeUrl);
    if (!byMode) {
      byMode = {};
      this.children.set(typeUrl, byMode);
    }
    let counters = byMode[mode];
    if (!counters) {
      const label = typeLabel(typeUrl);
      counters = {
        responses: this.responses.labels(label, mode),
        acks: this.acks.labels(label, mode),
        nacks: this.nacks.labels(label, mode),
      };
      byMode[mode] = counters;
    }
    return counters;
  }
}
