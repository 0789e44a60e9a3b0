import { clip } from '../observability/clip.js';
import { TypeUrl, type EncodedResource } from './contract.js';
import { BadRequestError, type DeltaRequest } from './requests.js';
import { StreamSession } from './session.js';
import { Delivery, deliveryName, oldestPending, SummaryBuilder, type ResourceStatus, type TypeStatus, type TypeSummary } from './status.js';
import { isWildcardType, removesLast } from './type-order.js';

/** A version the client told us it has no such resource (we sent it in removed_resources). */
const ABSENT = '';

interface KnownEntry {
  /** The version the client has, or ABSENT. */
  version: string;
  resource: EncodedResource | undefined;
  delivery: Delivery;
  nonce: string;
  /** When it was last sent (ms). */
  sentAt: number;
}

class DeltaTypeState {
  readonly names = new Set<string>();
  wildcard = false;
  /** What the client has (or was told does not exist), by name. */
  readonly known = new Map<string, KnownEntry>();
  /** Names to send even if the client has their version (explicit subscribes). */
  readonly force = new Set<string>();
  seenRequest = false;
  /** Respond even if empty (the first wildcard request). */
  mustAnswer = false;
  latestNonce: string | undefined;
  lastNack: { nonce: string; errorDetail: string; at: string } | undefined;
  changeAt: number | undefined;
  inFlightChangeAt: number | undefined;

  constructor(
    readonly typeUrl: string,
    readonly wildcardCapable: boolean,
  ) {}

  get active(): boolean {
    return this.wildcard || this.names.size > 0 || this.known.size > 0;
  }

  subscribes(name: string): boolean {
    return this.wildcard || this.names.has(name);
  }
}

/**
 * An incremental stream (ADS DeltaAggregatedResources or a per-type Delta* method).
 * Implements the incremental (delta) variant of the xDS protocol (envoyproxy.io, "xDS REST and gRPC protocol", incremental xDS).
 */
export class DeltaSession extends StreamSession<DeltaRequest, DeltaTypeState> {
  readonly mode = 'delta' as const;

  protected decode(bytes: Buffer, withNode: boolean): DeltaRequest {
    return this.env.decoder.decodeDelta(bytes, withNode);
  }

  protected handle(request: DeltaRequest): void {
    const typeUrl = request.typeUrl;
    let state = this.types.get(typeUrl);
    if (!state) {
      if (!this.checkNewType(typeUrl)) return;
      state = new DeltaTypeState(typeUrl, isWildcardType(typeUrl));
      this.types.set(typeUrl, state);
    }
    if (request.responseNonce) {
      if (request.errorDetail) this.onNack(state, request.responseNonce, request.errorDetail.message);
      else this.onAck(state, request.responseNonce);
    }
    // Every request updates the subscription, even one with a stale nonce (envoy#16659).
    if (this.updateSubscription(state, request)) this.outbox.mark(typeUrl);
  }

  protected onResourcesChanged(typeUrl: string, at: number): void {
    const state = this.types.get(typeUrl);
    if (!state || !state.active) return;
    state.changeAt ??= at;
    this.outbox.markChanged(typeUrl);
  }

  protected build(typeUrl: string): Buffer | undefined {
    const state = this.types.get(typeUrl);
    const view = this.view;
    if (!state || !view) return undefined;
    const resources = view.resources(typeUrl);
    if (!resources) {
      this.noteNotReady(typeUrl);
      return undefined;
    }
    const upserts: EncodedResource[] = [];
    const removed: string[] = [];
    if (state.wildcard) {
      for (const resource of resources.values()) {
        if (state.force.has(resource.name) || state.known.get(resource.name)?.version !== resource.version) upserts.push(resource);
      }
    }
    for (const name of state.names) {
      const resource = resources.get(name);
      const entry = state.known.get(name);
      if (resource) {
        if (!state.wildcard && (state.force.has(name) || entry?.version !== resource.version)) upserts.push(resource);
      } else if (!entry || entry.version !== ABSENT || state.force.has(name)) {
        // Subscribed but does not exist: say so, and remember the subscription (the protocol's "resource does not exist" rule).
        removed.push(name);
      }
    }
    for (const [name, entry] of state.known) {
      if (entry.version !== ABSENT && !resources.has(name) && !state.names.has(name)) removed.push(name);
    }
    let deferredRemovals = false;
    if (removed.length > 0 && removesLast(typeUrl) && this.outbox.hasOtherPending(typeUrl)) {
      // Make-before-break: remove clusters and endpoints after the rest of the push.
      deferredRemovals = true;
      this.outbox.markDeferred(typeUrl);
    }
    const removals = deferredRemovals ? [] : removed;
    if (upserts.length === 0 && removals.length === 0 && !state.mustAnswer) {
      if (!deferredRemovals) state.changeAt = undefined;
      state.force.clear();
      return undefined;
    }
    for (const resource of upserts) {
      // Only what this stream itself sent counts as authorized (initial_resource_versions are
      // claims); secrets are checked on every send.
      if (typeUrl !== TypeUrl.Secret && state.known.get(resource.name)?.resource) continue;
      const reason = view.authorize(typeUrl, resource.name);
      if (reason !== undefined) {
        this.deny(typeUrl, resource.name, reason);
        return undefined;
      }
    }
    const nonce = this.nextNonce();
    const fields = upserts.map((resource) => this.env.responses.deltaResource(resource));
    const message = this.env.responses.deltaResponse(nonce, typeUrl, fields, removals);
    this.record(state, upserts, removals, nonce);
    this.env.metrics.responseSent(typeUrl, 'delta');
    this.resendEndpoints(upserts);
    return message;
  }

  typeStatuses(): TypeStatus[] {
    const out: TypeStatus[] = [];
    for (const state of this.types.values()) {
      const resources: ResourceStatus[] = [];
      for (const [name, entry] of state.known) {
        if (entry.version === ABSENT) continue;
        const status: ResourceStatus = { name, version: entry.version, status: deliveryName(entry.delivery) };
        if (entry.delivery === Delivery.Nacked && state.lastNack) status.errorDetail = state.lastNack.errorDetail;
        resources.push(status);
      }
      const status: TypeStatus = {
        typeUrl: state.typeUrl,
        mode: 'delta',
        subscribed: state.wildcard ? '*' : [...state.names],
        resources,
      };
      if (state.latestNonce !== undefined) status.lastNonce = state.latestNonce;
      if (state.lastNack) status.lastNack = { ...state.lastNack };
      const pending = oldestPending(state.known.values());
      if (pending !== undefined) status.oldestUnackedAt = new Date(pending).toISOString();
      out.push(status);
    }
    return out;
  }

  typeSummaries(): TypeSummary[] {
    const out: TypeSummary[] = [];
    for (const state of this.types.values()) {
      const summary = new SummaryBuilder();
      for (const entry of state.known.values()) summary.add(entry.delivery, entry.sentAt, entry.version !== ABSENT);
      out.push(summary.build(state.typeUrl, state.latestNonce, state.lastNack));
    }
    return out;
  }

  sentResource(typeUrl: string, name: string): EncodedResource | undefined {
    return this.types.get(typeUrl)?.known.get(name)?.resource;
  }

  /** Applies subscribe/unsubscribe/initial versions; true if a response may be needed. */
  private updateSubscription(state: DeltaTypeState, request: DeltaRequest): boolean {
    const first = !state.seenRequest;
    state.seenRequest = true;
    let needsResponse = false;
    let changed = false;
    if (first) {
      for (const [name, version] of request.initialVersions) {
        state.known.set(name, { version, resource: undefined, delivery: Delivery.Acked, nonce: '', sentAt: this.env.now() });
      }
      if (request.initialVersions.size > 0) needsResponse = true;
      if (state.wildcardCapable && request.subscribe.length === 0 && request.unsubscribe.length === 0) {
        // Legacy wildcard: a first request with nothing in either list; answered even if empty.
        state.wildcard = true;
        state.mustAnswer = true;
        needsResponse = true;
        changed = true;
      }
    }
    // Subscribes first, then unsubscribes: the same name in both ends unsubscribed.
    for (const name of request.subscribe) {
      if (name === '*' && state.wildcardCapable) {
        if (!state.wildcard) {
          state.wildcard = true;
          state.mustAnswer = true;
          changed = true;
        }
        needsResponse = true;
        continue;
      }
      if (!state.names.has(name)) changed = true;
      state.names.add(name);
      state.force.add(name);
      needsResponse = true;
    }
    const limit = this.env.decoder.maxResourceNames;
    if (state.names.size > limit) {
      // Subscriptions accumulate in Delta; bound them like one SotW request's names.
      throw new BadRequestError(`resource_names_subscribe: ${state.names.size} subscriptions to ${state.typeUrl} exceed the limit of ${limit}`);
    }
    for (const name of request.unsubscribe) {
      if (name === '*' && state.wildcardCapable) {
        if (state.wildcard) changed = true;
        state.wildcard = false;
        state.mustAnswer = false;
        for (const known of [...state.known.keys()]) if (!state.names.has(known)) state.known.delete(known);
        continue;
      }
      if (!state.names.delete(name)) continue;
      changed = true;
      state.force.delete(name);
      if (state.wildcard) {
        // Still wanted through the wildcard: tell the client where it stands.
        state.force.add(name);
        needsResponse = true;
      } else {
        state.known.delete(name);
      }
    }
    if (first && !state.wildcard) {
      for (const name of [...state.known.keys()]) if (!state.names.has(name)) state.known.delete(name);
    }
    if (changed || first) {
      if (this.denyUnauthorizedNames(state.typeUrl, state.names)) return needsResponse;
      const interest = state.wildcard ? new Set([...state.names, '*']) : new Set(state.names);
      this.view?.interest(state.typeUrl, interest);
    }
    return needsResponse;
  }

  private onAck(state: DeltaTypeState, nonce: string): void {
    const acked = new Map<string, string>();
    for (const [name, entry] of state.known) {
      if (entry.nonce !== nonce || entry.delivery !== Delivery.Sent) continue;
      entry.delivery = Delivery.Acked;
      if (entry.version !== ABSENT) acked.set(name, entry.version);
    }
    if (acked.size === 0 && nonce !== state.latestNonce) return;
    let latency: number | undefined;
    if (nonce === state.latestNonce && state.inFlightChangeAt !== undefined) {
      latency = this.env.now() - state.inFlightChangeAt;
      state.inFlightChangeAt = undefined;
    }
    this.env.metrics.acked(state.typeUrl, 'delta', latency);
    if (acked.size > 0) this.view?.acked(state.typeUrl, acked);
  }

  private onNack(state: DeltaTypeState, nonce: string, errorDetail: string): void {
    // The rejected versions stay "known": they are not re-pushed until they change.
    for (const entry of state.known.values()) if (entry.nonce === nonce) entry.delivery = Delivery.Nacked;
    state.lastNack = { nonce, errorDetail, at: new Date(this.env.now()).toISOString() };
    if (nonce === state.latestNonce) state.inFlightChangeAt = undefined;
    this.env.metrics.nacked(state.typeUrl, 'delta');
    this.logNack({ typeUrl: clip(state.typeUrl), nonce: clip(nonce), errorDetail: clip(errorDetail, 1024) });
    this.view?.nacked(state.typeUrl, errorDetail);
  }

  private record(state: DeltaTypeState, upserts: readonly EncodedResource[], removed: readonly string[], nonce: string): void {
    for (const resource of upserts) {
      const entry = state.known.get(resource.name);
      if (entry) {
        entry.version = resource.version;
        entry.resource = resource;
        entry.delivery = Delivery.Sent;
        entry.nonce = nonce;
        entry.sentAt = this.env.now();
      } else {
        state.known.set(resource.name, { version: resource.version, resource, delivery: Delivery.Sent, nonce, sentAt: this.env.now() });
      }
    }
    for (const name of removed) {
      if (state.names.has(name)) {
        state.known.set(name, { version: ABSENT, resource: undefined, delivery: Delivery.Sent, nonce, sentAt: this.env.now() });
      } else {
        state.known.delete(name);
      }
    }
    state.force.clear();
    state.mustAnswer = false;
    state.latestNonce = nonce;
    if (state.changeAt !== undefined) {
      state.inFlightChangeAt = Math.min(state.inFlightChangeAt ?? state.changeAt, state.changeAt);
      state.changeAt = undefined;
    }
  }

  /**
   * A cluster finishes warming only on a new EDS response (envoy#13009): resend the endpoints of
   * the clusters just added or updated. Unchanged clusters are not re-created, so theirs are not resent.
   */
  private resendEndpoints(upserts: readonly EncodedResource[]): void {
    const endpoints = this.types.get(TypeUrl.ClusterLoadAssignment);
    if (!endpoints) return;
    let any = false;
    for (const resource of upserts) {
      const name = resource.endpointsName;
      if (name === undefined || !endpoints.names.has(name)) continue;
      endpoints.force.add(name);
      any = true;
    }
    if (any) this.outbox.mark(TypeUrl.ClusterLoadAssignment);
  }
}
