import { clip } from '../observability/clip.js';
import { TypeUrl, type EncodedResource } from './contract.js';
import { HeldResources } from './held-resources.js';
import type { SotwRequest } from './requests.js';
import { StreamSession } from './session.js';
import { Delivery, deliveryName, SummaryBuilder, type TypeStatus, type TypeSummary } from './status.js';
import { isWildcardType, removesLast } from './type-order.js';

const NONE: readonly string[] = [];
/** The subscription of a wildcard (or empty) sub-stream: one shared empty set, not one per stream and type. */
const NO_NAMES: ReadonlySet<string> = new Set();
/** Unacknowledged responses of a type chained before the chain is pruned to those still in use. */
const MAX_UNACKED_CHAIN = 8;

/** Cuts a chain of unacknowledged responses (so they can be collected), marking them accepted if `accept`. */
function releaseChain(latest: SentResponse | undefined, accept: boolean): void {
  for (let response = latest; response !== undefined; ) {
    if (accept && response.delivery === Delivery.Sent) response.delivery = Delivery.Acked;
    const previous = response.previous;
    response.previous = undefined;
    response = previous;
  }
}

function awaitsAck(latest: SentResponse | undefined): boolean {
  for (let response = latest; response !== undefined; response = response.previous) if (response.delivery === Delivery.Sent) return true;
  return false;
}

/**
 * Calls `visit` once per resource name carried by the chain, with the newest response that carried
 * it (later responses supersede earlier ones).
 */
function forEachLatest(latest: SentResponse | undefined, visit: (resource: EncodedResource, response: SentResponse) => void): void {
  const seen = latest?.previous === undefined ? undefined : new Set<string>();
  for (let response = latest; response !== undefined; response = response.previous) {
    for (const resource of response.carried) {
      if (seen) {
        if (seen.has(resource.name)) continue;
        seen.add(resource.name);
      }
      visit(resource, response);
    }
  }
}

/**
 * One response of a type. Only responses not yet ACKed are kept (chained through `previous`);
 * once a response is ACKed its resources need no record beyond what the client holds.
 */
interface SentResponse {
  readonly nonce: string;
  /** When it was sent (ms). */
  readonly sentAt: number;
  delivery: Delivery;
  /** What it carried for the client to apply (not the clusters it only kept for make-before-break). */
  readonly carried: readonly EncodedResource[];
  /** The response sent before it and not ACKed yet: the chain an ACK accepts (no list kept per type). */
  previous: SentResponse | undefined;
}

function isCurrent(held: EncodedResource | undefined, resource: EncodedResource): boolean {
  return held !== undefined && (held === resource || held.version === resource.version);
}

/** One type's sub-stream on a state-of-the-world stream: subscription, nonce and delivery bookkeeping. */
class SotwTypeState {
  names: ReadonlySet<string> = NO_NAMES;
  wildcard = false;
  /** Some request of this type had names: from then on an empty list means "nothing" (not legacy wildcard). */
  sawNames = false;
  /** What the client was sent (and still has), by name. */
  readonly held = new HeldResources();
  /** Held names whose latest response was NACKed and has left the chain (an ACK of a later response released it). */
  nacked: Map<string, SentResponse> | undefined;
  nonce: string | undefined;
  versionInfo: string | undefined;
  ackedVersion: string | undefined;
  lastNack: { nonce: string; errorDetail: string; at: string } | undefined;
  /** Respond even if nothing differs from what was sent (the first request of the type). */
  mustAnswer = false;
  /** Names to include even if already sent: EDS of clusters just added or updated (the xDS protocol's warming rule; never set for LDS/CDS). */
  force: Set<string> | undefined;
  /** The source's map last sent in full to a wildcard subscriber: unchanged identity means nothing to send. */
  lastWholeMap: ReadonlyMap<string, EncodedResource> | undefined;
  /** The latest response sent since the last ACK; with its `previous` chain, all that the next ACK accepts. */
  unacked: SentResponse | undefined;
  unackedCount = 0;
  /** When the source announced the oldest change not yet sent. */
  changeAt: number | undefined;
  /** When the source announced the oldest change carried by a response not yet ACKed. */
  inFlightChangeAt: number | undefined;

  constructor(
    readonly typeUrl: string,
    /** LDS and CDS: every response carries the full state; they also allow wildcard. */
    readonly fullState: boolean,
  ) {}

  get active(): boolean {
    return this.wildcard || this.names.size > 0;
  }
}

/**
 * A state-of-the-world stream (ADS StreamAggregatedResources or a per-type Stream* method).
 * Implements the state-of-the-world variant of the xDS protocol (envoyproxy.io, "xDS REST and gRPC protocol"); docs/architecture.md lists the rules.
 */
export class SotwSession extends StreamSession<SotwRequest, SotwTypeState> {
  readonly mode = 'sotw' as const;

  protected decode(bytes: Buffer, withNode: boolean): SotwRequest {
    return this.env.decoder.decodeSotw(bytes, withNode);
  }

  protected handle(request: SotwRequest): void {
    const typeUrl = request.typeUrl;
    let state = this.types.get(typeUrl);
    const first = state === undefined;
    if (!state) {
      if (!this.checkNewType(typeUrl)) return;
      state = new SotwTypeState(typeUrl, isWildcardType(typeUrl));
      this.types.set(typeUrl, state);
    } else if (state.nonce !== undefined) {
      if (request.responseNonce !== state.nonce) {
        // Stale: answers a response the client has not seen the latest of (xds_protocol "Resource updates").
        this.log.debug({ node: clip(this.node?.id), typeUrl: clip(typeUrl), nonce: clip(request.responseNonce), latest: state.nonce }, 'ignoring stale request');
        return;
      }
      if (request.errorDetail) this.onNack(state, request);
      else this.onAck(state);
    }
    const added = this.updateSubscription(state, request.resourceNames, first);
    if (first) {
      this.onFirstRequest(state, request.versionInfo);
    } else if (added) {
      this.outbox.mark(typeUrl);
    }
  }

  protected onResourcesChanged(typeUrl: string, at: number): void {
    const state = this.types.get(typeUrl);
    if (!state || (!state.active && !state.mustAnswer)) return;
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
    const planned = state.active ? this.plan(state, resources) : undefined;
    if (!planned) {
      state.mustAnswer = false;
      state.force = undefined;
      state.changeAt = undefined;
      return undefined;
    }
    for (const resource of planned.list) {
      // Config already sent on this stream stays authorized; secrets are checked on every send.
      if (typeUrl !== TypeUrl.Secret && state.held.has(resource.name)) continue;
      const reason = view.authorize(typeUrl, resource.name);
      if (reason !== undefined) {
        this.deny(typeUrl, resource.name, reason);
        return undefined;
      }
    }
    const nonce = this.nextNonce();
    const message = this.env.responses.sotwResponse(nonce, typeUrl, planned.versionInfo, planned.list);
    this.record(state, resources, planned.list, planned.retained, nonce, planned.versionInfo);
    this.env.metrics.responseSent(typeUrl, 'sotw');
    if (planned.warming.length > 0) this.resendEndpoints(planned.warming);
    return message;
  }

  typeSummaries(): TypeSummary[] {
    const out: TypeSummary[] = [];
    for (const state of this.types.values()) {
      const summary = new SummaryBuilder();
      const latest = this.latestResponses(state);
      if (latest === undefined) {
        summary.addAcked(state.held.size);
      } else {
        for (const name of state.held.names()) {
          const response = latest.get(name);
          summary.add(response?.delivery ?? Delivery.Acked, response?.sentAt ?? 0);
        }
      }
      out.push(summary.build(state.typeUrl, state.nonce, state.lastNack));
    }
    return out;
  }

  sentResource(typeUrl: string, name: string): EncodedResource | undefined {
    return this.types.get(typeUrl)?.held.get(name);
  }

  typeStatuses(): TypeStatus[] {
    const out: TypeStatus[] = [];
    for (const state of this.types.values()) {
      const latest = this.latestResponses(state);
      let oldestUnacked: number | undefined;
      const resources: TypeStatus['resources'] = [];
      for (const resource of state.held.values()) {
        const response = latest?.get(resource.name);
        const delivery = response?.delivery ?? Delivery.Acked;
        if (response && delivery === Delivery.Sent && (oldestUnacked === undefined || response.sentAt < oldestUnacked)) oldestUnacked = response.sentAt;
        resources.push({
          name: resource.name,
          version: resource.version,
          status: deliveryName(delivery),
          ...(delivery === Delivery.Nacked && state.lastNack ? { errorDetail: state.lastNack.errorDetail } : {}),
        });
      }
      const status: TypeStatus = { typeUrl: state.typeUrl, mode: 'sotw', subscribed: state.wildcard ? '*' : [...state.names], resources };
      if (state.nonce !== undefined) status.lastNonce = state.nonce;
      if (state.ackedVersion !== undefined) status.ackedVersion = state.ackedVersion;
      if (state.lastNack) status.lastNack = { ...state.lastNack };
      if (oldestUnacked !== undefined) status.oldestUnackedAt = new Date(oldestUnacked).toISOString();
      out.push(status);
    }
    return out;
  }

  /** The response each held name last came in, for names not simply ACKed; undefined when every one is. */
  private latestResponses(state: SotwTypeState): Map<string, SentResponse> | undefined {
    if (state.unacked === undefined && state.nacked === undefined) return undefined;
    const latest = new Map<string, SentResponse>();
    forEachLatest(state.unacked, (resource, response) => {
      if (state.held.has(resource.name)) latest.set(resource.name, response);
    });
    if (state.nacked) {
      for (const [name, response] of state.nacked) if (!latest.has(name) && state.held.has(name)) latest.set(name, response);
    }
    return latest;
  }

  /** Applies a request's resource_names; true if something was newly subscribed. */
  private updateSubscription(state: SotwTypeState, names: readonly string[], first: boolean): boolean {
    if (!first && this.sameSubscription(state, names)) return false;
    const explicit = new Set<string>();
    let wantWildcard = false;
    const known = this.view?.resources(state.typeUrl);
    for (const name of names) {
      if (name === '*' && state.fullState) wantWildcard = true;
      // Kept as the resource's own name string, shared by every stream, not this request's copy.
      else explicit.add(known?.get(name)?.name ?? name);
    }
    // Legacy wildcard: every request of the type so far had no names (Listener and Cluster only).
    if (state.fullState && names.length === 0 && !state.sawNames) wantWildcard = true;
    if (names.length > 0) state.sawNames = true;

    let added = wantWildcard && !state.wildcard;
    let changed = added || wantWildcard !== state.wildcard;
    for (const name of explicit) {
      if (state.names.has(name)) continue;
      // Newly requested names are sent even if they were sent before, e.g. through the wildcard (the protocol's "resource subscription" rules).
      state.held.delete(name);
      added = true;
      changed = true;
    }
    for (const name of state.names) {
      if (explicit.has(name)) continue;
      changed = true;
      if (!wantWildcard) state.held.delete(name);
    }
    if (state.wildcard && !wantWildcard) {
      for (const name of [...state.held.names()]) if (!explicit.has(name)) state.held.delete(name);
    }
    state.names = explicit.size === 0 ? NO_NAMES : explicit;
    state.wildcard = wantWildcard;
    if (changed) state.lastWholeMap = undefined;
    if (changed || first) {
      if (this.denyUnauthorizedNames(state.typeUrl, explicit)) return added;
      const interest = wantWildcard ? new Set([...explicit, '*']) : explicit;
      this.view?.interest(state.typeUrl, interest);
    }
    return added;
  }

  /** The common ACK: the same explicit names as before (no allocation on the per-ACK path). */
  private sameSubscription(state: SotwTypeState, names: readonly string[]): boolean {
    if (state.wildcard) return names.length === 0 && !state.sawNames && state.names.size === 0;
    if (names.length !== state.names.size || names.length === 0) return false;
    // Clients repeat their list in the same order: equal in order, the names are distinct (the set's are).
    let inOrder = 0;
    for (const name of state.names) {
      if (names[inOrder] !== name) break;
      inOrder += 1;
    }
    if (inOrder === names.length) return true;
    if (names.length > 16) return false;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      if (name === '*' || !state.names.has(name)) return false;
      // A duplicate would hide a dropped name behind an equal count.
      for (let j = 0; j < i; j++) if (names[j] === name) return false;
    }
    return true;
  }

  private onFirstRequest(state: SotwTypeState, versionInfo: string): void {
    const resources = this.view?.resources(state.typeUrl);
    if (versionInfo && resources && state.active) {
      // A reconnecting client that already has exactly this state is sent nothing (versions are content hashes).
      const current = this.subscribed(state, resources);
      if (this.versionOf(state, current, resources) === versionInfo) {
        for (const resource of current) {
          const reason = this.view?.authorize(state.typeUrl, resource.name);
          if (reason !== undefined) {
            this.deny(state.typeUrl, resource.name, reason);
            return;
          }
        }
        state.held.share(resources, state.wildcard ? undefined : state.names);
        state.versionInfo = versionInfo;
        state.ackedVersion = versionInfo;
        return;
      }
    }
    state.mustAnswer = true;
    this.outbox.mark(state.typeUrl);
  }

  private onAck(state: SotwTypeState): void {
    state.ackedVersion = state.versionInfo;
    if (awaitsAck(state.unacked)) {
      // Resources of the accepted responses, listed only if the view reads them (it does for secrets).
      this.view?.acked(state.typeUrl, { [Symbol.iterator]: () => this.acceptedResources(state) });
    }
    this.keepNacked(state);
    releaseChain(state.unacked, true);
    state.unacked = undefined;
    state.unackedCount = 0;
    const latency = state.inFlightChangeAt === undefined ? undefined : this.env.now() - state.inFlightChangeAt;
    state.inFlightChangeAt = undefined;
    this.env.metrics.acked(state.typeUrl, 'sotw', latency);
  }

  private onNack(state: SotwTypeState, request: SotwRequest): void {
    const errorDetail = request.errorDetail?.message ?? '';
    const nonce = request.responseNonce;
    for (let response = state.unacked; response !== undefined; response = response.previous) {
      if (response.nonce === nonce) response.delivery = Delivery.Nacked;
    }
    state.lastNack = { nonce, errorDetail, at: new Date(this.env.now()).toISOString() };
    state.inFlightChangeAt = undefined;
    this.env.metrics.nacked(state.typeUrl, 'sotw');
    this.logNack({ typeUrl: clip(state.typeUrl), nonce: clip(nonce), errorDetail: clip(errorDetail, 1024), acceptedVersion: clip(request.versionInfo) });
    this.view?.nacked(state.typeUrl, errorDetail);
  }

  /** Subscribed resources that exist, in subscription order (all of them for wildcard). */
  private subscribed(state: SotwTypeState, resources: ReadonlyMap<string, EncodedResource>): EncodedResource[] {
    if (state.wildcard) return [...resources.values()];
    const out: EncodedResource[] = [];
    for (const name of state.names) {
      const resource = resources.get(name);
      if (resource) out.push(resource);
    }
    return out;
  }

  private versionOf(
    state: SotwTypeState,
    list: readonly EncodedResource[],
    resources: ReadonlyMap<string, EncodedResource>,
  ): string {
    if (state.wildcard && list.length === resources.size) return this.env.responses.versionOfWholeMap(resources);
    return this.env.responses.versionOf(list);
  }

  /** Decides what the next response of a type carries, or undefined if nothing needs sending. */
  private plan(
    state: SotwTypeState,
    resources: ReadonlyMap<string, EncodedResource>,
  ): { list: EncodedResource[]; versionInfo: string; retained: boolean; warming: readonly string[] } | undefined {
    if (state.fullState) {
      if (state.wildcard && state.lastWholeMap === resources && !state.mustAnswer) return undefined;
      const list = this.subscribed(state, resources);
      const warming: string[] = [];
      let upserted = false;
      let stillSent = 0;
      for (const resource of list) {
        const held = state.held.get(resource.name);
        if (held) stillSent += 1;
        if (isCurrent(held, resource)) continue;
        upserted = true;
        if (resource.endpointsName !== undefined) warming.push(resource.endpointsName);
      }
      const removed = state.held.size > stillSent ? this.removedNames(state, list) : [];
      if (!upserted && removed.length === 0 && !state.mustAnswer) return undefined;
      let retained = false;
      if (removed.length > 0 && removesLast(state.typeUrl) && this.outbox.hasOtherPending(state.typeUrl)) {
        // Make-before-break: keep removed clusters until the rest of the push is out, then remove them.
        for (const name of removed) {
          const held = state.held.get(name);
          if (held) list.push(held);
        }
        retained = true;
        this.outbox.markDeferred(state.typeUrl);
      }
      const versionInfo = retained ? this.env.responses.versionOf(list) : this.versionOf(state, list, resources);
      return { list, versionInfo, retained, warming };
    }
    const list: EncodedResource[] = [];
    const existing: EncodedResource[] = [];
    for (const name of state.names) {
      const resource = resources.get(name);
      if (!resource) {
        state.held.delete(name);
        continue;
      }
      existing.push(resource);
      if (state.force?.has(name) === true || !isCurrent(state.held.get(name), resource)) list.push(resource);
    }
    if (list.length === 0) {
      // Everything subscribed that exists is held and current: hold it by reference again.
      state.held.share(resources, state.names);
      return undefined;
    }
    const versionInfo = this.env.responses.versionOf(existing);
    return { list, versionInfo, retained: false, warming: NONE };
  }

  /** A client that never ACKs must not grow the chain: keep only the responses some held resource still comes from. */
  private pruneUnacked(state: SotwTypeState): void {
    this.keepNacked(state);
    const live = new Set<SentResponse>();
    forEachLatest(state.unacked, (resource, response) => {
      if (response.delivery === Delivery.Sent && state.held.has(resource.name)) live.add(response);
    });
    releaseChain(state.unacked, false);
    state.unacked = undefined;
    for (const response of [...live].reverse()) {
      response.previous = state.unacked;
      state.unacked = response;
    }
    state.unackedCount = live.size;
  }

  /** Before the chain is cut: held names whose latest response was NACKed keep that status. */
  private keepNacked(state: SotwTypeState): void {
    let anyNacked = false;
    for (let response = state.unacked; response !== undefined && !anyNacked; response = response.previous) anyNacked = response.delivery === Delivery.Nacked;
    if (!anyNacked) return;
    forEachLatest(state.unacked, (resource, response) => {
      if (response.delivery === Delivery.Nacked && state.held.has(resource.name)) (state.nacked ??= new Map()).set(resource.name, response);
    });
  }

  /** Names and versions of the held resources not yet accepted, read while the ACK is handled (before they are marked). */
  private *acceptedResources(state: SotwTypeState): Generator<readonly [string, string]> {
    const accepted: (readonly [string, string])[] = [];
    forEachLatest(state.unacked, (resource, response) => {
      if (response.delivery === Delivery.Sent && state.held.has(resource.name)) accepted.push([resource.name, resource.version]);
    });
    yield* accepted;
  }

  private removedNames(state: SotwTypeState, list: readonly EncodedResource[]): string[] {
    const keep = new Set(list.map((resource) => resource.name));
    const removed: string[] = [];
    for (const name of state.held.names()) if (!keep.has(name)) removed.push(name);
    return removed;
  }

  private record(
    state: SotwTypeState,
    resources: ReadonlyMap<string, EncodedResource>,
    list: readonly EncodedResource[],
    retained: boolean,
    nonce: string,
    versionInfo: string,
  ): void {
    // A make-before-break response only keeps the removed clusters: they stay where they came from.
    const carried = retained ? list.filter((resource) => state.held.get(resource.name) !== resource) : list;
    const response: SentResponse = { nonce, sentAt: this.env.now(), delivery: Delivery.Sent, carried, previous: state.unacked };
    if (state.nacked) {
      for (const resource of carried) state.nacked.delete(resource.name);
      if (state.nacked.size === 0) state.nacked = undefined;
    }
    // The client now holds the list (LDS/CDS: exactly; EDS/RDS/SDS: with what it had of its other names, all current).
    if (retained) state.held.holdOnly(list);
    else state.held.share(resources, state.wildcard ? undefined : state.names);
    state.unacked = response;
    state.unackedCount += 1;
    if (state.unackedCount > MAX_UNACKED_CHAIN) this.pruneUnacked(state);
    state.nonce = nonce;
    state.versionInfo = versionInfo;
    state.lastWholeMap = state.wildcard && !retained && list.length === resources.size ? resources : undefined;
    state.mustAnswer = false;
    state.force = undefined;
    if (state.changeAt !== undefined) {
      state.inFlightChangeAt = Math.min(state.inFlightChangeAt ?? state.changeAt, state.changeAt);
      state.changeAt = undefined;
    }
  }

  /**
   * A cluster finishes warming only on a new EDS response (envoy#13009): resend the endpoints of
   * the clusters just added or updated. Unchanged clusters are not re-created, so theirs are not resent.
   */
  private resendEndpoints(names: readonly string[]): void {
    const endpoints = this.types.get(TypeUrl.ClusterLoadAssignment);
    if (!endpoints || !endpoints.active) return;
    let any = false;
    for (const name of names) {
      if (!endpoints.names.has(name)) continue;
      (endpoints.force ??= new Set()).add(name);
      any = true;
    }
    if (any) this.outbox.mark(TypeUrl.ClusterLoadAssignment);
  }
}
