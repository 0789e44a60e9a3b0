/** What the server reports per connected proxy (GET /v1/proxies and CSDS). */
export interface ResourceStatus {
  name: string;
  version: string;
  status: 'SENT' | 'ACKED' | 'NACKED';
  errorDetail?: string;
}

export interface TypeStatus {
  typeUrl: string;
  mode: 'sotw' | 'delta';
  subscribed: string[] | '*';
  lastNonce?: string;
  ackedVersion?: string;
  lastNack?: { nonce: string; errorDetail: string; at: string };
  /** When the oldest response still awaiting its ACK (or NACK) was sent; absent when none is. */
  oldestUnackedAt?: string;
  resources: ResourceStatus[];
}

export interface ProxyStatus {
  nodeId: string;
  peer: string;
  connectedAt: string;
  /** 'ads', or the type URL of a per-type service. */
  service: string;
  types: TypeStatus[];
}

/**
 * One type's delivery state without per-resource detail: what sync-state views (status reports,
 * metrics) need, computed for every stream without allocating per resource.
 */
export interface TypeSummary {
  readonly typeUrl: string;
  /** Resources the client was sent and still holds. */
  readonly resources: number;
  readonly nacked: boolean;
  /** When the oldest response still awaiting its ACK (or NACK) was sent (ms); undefined when none is. */
  readonly oldestUnackedAt: number | undefined;
  readonly lastNonce: string | undefined;
  readonly lastNack: { readonly nonce: string; readonly errorDetail: string; readonly at: string } | undefined;
}

export interface ProxySummary {
  readonly nodeId: string;
  readonly peer: string;
  readonly connectedAt: string;
  readonly types: readonly TypeSummary[];
}

/** Accumulates one type's summary entry by entry (no per-entry allocation: it runs over every stream). */
export class SummaryBuilder {
  private resources = 0;
  private nacked = false;
  private oldest: number | undefined;

  /** One entry; `held`: a resource the client holds (Delta also tracks names it was told are gone). */
  add(delivery: Delivery, sentAt: number, held = true): void {
    if (delivery === Delivery.Sent && (this.oldest === undefined || sentAt < this.oldest)) this.oldest = sentAt;
    if (!held) return;
    this.resources += 1;
    if (delivery === Delivery.Nacked) this.nacked = true;
  }

  /** `count` resources the client holds and has ACKed (no per-entry detail needed). */
  addAcked(count: number): void {
    this.resources += count;
  }

  build(typeUrl: string, lastNonce: string | undefined, lastNack: TypeSummary['lastNack']): TypeSummary {
    return { typeUrl, resources: this.resources, nacked: this.nacked, oldestUnackedAt: this.oldest, lastNonce, lastNack };
  }
}

/** Delivery state of one resource on one stream. */
export const Delivery = { Sent: 0, Acked: 1, Nacked: 2 } as const;
export type Delivery = (typeof Delivery)[keyof typeof Delivery];

export function deliveryName(delivery: Delivery): ResourceStatus['status'] {
  return delivery === Delivery.Acked ? 'ACKED' : delivery === Delivery.Nacked ? 'NACKED' : 'SENT';
}

/** The earliest `sentAt` among entries still awaiting an answer. */
export function oldestPending(entries: Iterable<{ readonly delivery: Delivery; readonly sentAt: number }>): number | undefined {
  let oldest: number | undefined;
  for (const entry of entries) if (entry.delivery === Delivery.Sent && (oldest === undefined || entry.sentAt < oldest)) oldest = entry.sentAt;
  return oldest;
}
