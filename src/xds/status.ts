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

/** Counts, NACK presence and the oldest pending send over one type's entries. */
export function summarize<E extends { readonly delivery: Delivery; readonly sentAt: number }>(
  typeUrl: string,
  entries: Iterable<E>,
  lastNonce: string | undefined,
  lastNack: TypeSummary['lastNack'],
  /** Whether an entry is a resource the client holds (Delta also tracks names it was told are gone). */
  held: (entry: E) => boolean = () => true,
): TypeSummary {
  let resources = 0;
  let nacked = false;
  let oldest: number | undefined;
  for (const entry of entries) {
    if (entry.delivery === Delivery.Sent && (oldest === undefined || entry.sentAt < oldest)) oldest = entry.sentAt;
    if (!held(entry)) continue;
    resources += 1;
    if (entry.delivery === Delivery.Nacked) nacked = true;
  }
  return { typeUrl, resources, nacked, oldestUnackedAt: oldest, lastNonce, lastNack };
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
