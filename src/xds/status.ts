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
