import { serviceKey, type Upstream, type Workload } from '../core/workload.js';
import { TypeUrl } from '../xds/contract.js';
import { deepFreeze } from '../core/deep-freeze.js';
import { callerConnectionLimits } from './connection-lifetime.js';
import { InputKeys, piecesKey, proxyId, type ProxyKeys, type SnapshotMemo } from './input-keys.js';
import { localityPlan, type LocalityPlan } from './locality.js';
import type { ServiceView } from './model.js';
import { reuseUnchangedPieces, reuseUnchangedResources, sameIfEqual } from './object-reuse.js';
import { assembleProxy, buildOutboundListener, upstreamLeftOut } from './proxy-assembly.js';
import { buildServicePieces, type ServicePieces } from './service-pieces.js';
import type { Flavour, MeshInput, ProxyResources, Resource, Translation } from './types.js';

interface Generation {
  readonly translation: Translation;
  readonly structureKey: string;
  readonly ownKey: string;
  /** Whether destination pieces added notes (they may depend on endpoints, so the endpoints-only path is not taken). */
  readonly piecesNotes: boolean;
  /** Every upstream given resources, in assembly order (none for gateways): what a later generation may swap. */
  readonly destinations: readonly Destination[];
  readonly proxies: Set<string>;
}

/** One upstream's contribution to a generation. */
interface Destination {
  /** `namespace/name`. */
  readonly service: string;
  readonly pieces: ServicePieces;
  /** Envoy: the outbound listener on the upstream's local port. */
  readonly listener: Resource | undefined;
}

interface Binding {
  readonly workloadId: string;
  readonly key: string;
}

interface PiecesEntry {
  readonly namespace: string;
  readonly service: string;
  readonly hash: string;
  readonly pieces: ServicePieces;
}

/**
 * Registry + policies → each proxy's resources. Pure apart from memo caches: no I/O, no clock.
 *
 * Sharing keeps work proportional to change:
 * - per destination service, flavour and locality plan, clusters/CLAs/routes are rebuilt only when a hash of the
 *   inputs they read changes, and are otherwise returned as the very same objects;
 * - per proxy, `inputKey` (input-keys.ts) covers exactly what affects that proxy; proxies with equal
 *   keys (e.g. replicas of one service) share one generation, and an unchanged key returns it untouched;
 * - when only destinations' endpoints changed (equal structure keys), the new generation is the old
 *   one with its CLAs swapped, nothing else rebuilt;
 * - when only destinations' pieces changed (equal own keys: a TrafficPolicy on a destination), the
 *   changed destinations' resources are swapped into the old generation by name.
 * When something is rebuilt, resources whose content did not change keep their old identity.
 */
export class MeshTranslator {
  private readonly keys = new InputKeys((memo) => this.prune(memo));
  private readonly pieces = new Map<string, PiecesEntry>();
  /** Envoy outbound listeners by the pieces they route to and the local port (callers on one port share one). */
  private readonly outboundListeners = new WeakMap<ServicePieces, Map<number, Resource>>();
  /**
   * Rebuilt pieces → the listeners (by port) of the pieces they replaced, so an equal listener keeps
   * its identity. Not the replaced pieces themselves: each would hold its predecessor, a chain as
   * long as the service's history.
   */
  private readonly replacedListeners = new WeakMap<ServicePieces, ReadonlyMap<number, Resource>>();
  private readonly generations = new Map<string, Generation>();
  /** Proxy (`flavour|workloadId`) → the generation it was last given. */
  private readonly bindings = new Map<string, Binding>();

  translate(input: MeshInput, workloadId: string, flavour: Flavour): ProxyResources {
    return this.translateWithNotes(input, workloadId, flavour).resources;
  }

  /** `translate`, plus what was left out or adjusted and why. */
  translateWithNotes(input: MeshInput, workloadId: string, flavour: Flavour): Translation {
    return this.translateWithKeys(input, workloadId, flavour, this.keys.keys(input, workloadId, flavour));
  }

  /**
   * The translation and its input key, or undefined when the key is still `currentKey` (the
   * caller holds that translation): one pass over the keys for a proxy a change may have reached.
   */
  translateIfChanged(input: MeshInput, workloadId: string, flavour: Flavour, currentKey: string | undefined): { readonly key: string; readonly translation: Translation } | undefined {
    const keys = this.keys.keys(input, workloadId, flavour);
    if (keys.key === currentKey) return undefined;
    return { key: keys.key, translation: this.translateWithKeys(input, workloadId, flavour, keys) };
  }

  private translateWithKeys(input: MeshInput, workloadId: string, flavour: Flavour, { key, structureKey, ownKey }: ProxyKeys): Translation {
    const proxy = proxyId(workloadId, flavour);
    const previousKey = this.bindings.get(proxy)?.key;
    const existing = this.generations.get(key);
    if (existing) {
      this.bind(proxy, workloadId, previousKey, key, existing);
      return existing.translation;
    }
    const memo = this.keys.memo(input);
    const workload = this.keys.workload(input, workloadId);
    const previous = previousKey === undefined ? undefined : this.generations.get(previousKey);
    const generation =
      (previous?.structureKey === structureKey && this.withNewEndpoints(memo, workload, flavour, previous)) ||
      (previous?.ownKey === ownKey && this.withChangedDestinations(memo, workload, flavour, structureKey, previous)) ||
      this.assemble(memo, workload, flavour, structureKey, ownKey, previous?.translation);
    this.generations.set(key, generation);
    this.bind(proxy, workloadId, previousKey, key, generation);
    return generation.translation;
  }

  /** Workloads whose proxies' resources may differ between two snapshots (input-keys.ts); `all` after a policy change. */
  affectedWorkloads(before: MeshInput, after: MeshInput): ReadonlySet<string> | 'all' {
    return this.keys.affectedWorkloads(before, after);
  }

  /** A hash of exactly the inputs that affect this proxy's resources (input-keys.ts). */
  inputKey(input: MeshInput, workloadId: string, flavour: Flavour): string {
    return this.keys.keys(input, workloadId, flavour).key;
  }

  /**
   * Drops what is kept for a workload (its generation, if no other proxy shares it). Optional:
   * workloads missing from a newly seen snapshot are forgotten automatically.
   */
  forget(workloadId: string): void {
    this.keys.forget(workloadId);
    this.unbind(workloadId);
  }

  /** Releases the workload's proxies' generations (their key records are the key cache's). */
  private unbind(workloadId: string): void {
    for (const flavour of ['envoy', 'grpc'] as const) {
      const proxy = proxyId(workloadId, flavour);
      const binding = this.bindings.get(proxy);
      if (binding === undefined) continue;
      this.bindings.delete(proxy);
      this.release(proxy, binding.key);
    }
  }

  private assemble(memo: SnapshotMemo, workload: Workload, flavour: Flavour, structureKey: string, ownKey: string, previous: Translation | undefined): Generation {
    let piecesNotes = false;
    const destinations: Destination[] = [];
    const gateway = flavour === 'envoy' && workload.gateway !== undefined;
    const fresh = assembleProxy(memo.index, workload, flavour, {
      pieces: (service) => {
        const pieces = this.servicePieces(memo, service, flavour, localityPlan(service.trafficPolicy, workload.locality));
        if (pieces.notes.length > 0) piecesNotes = true;
        // Envoy proxies ask for the listener next and complete the entry (outboundListener below).
        if (!gateway) destinations.push({ service: serviceKey(service.namespace, service.name), pieces, listener: undefined });
        return pieces;
      },
      outboundListener: (upstream, service, pieces) => {
        const listener = this.outboundListener(upstream, service, pieces);
        const last = destinations.at(-1);
        if (last !== undefined) destinations[destinations.length - 1] = { ...last, listener };
        return listener;
      },
    });
    const translation = previous ? reuseUnchangedResources(fresh, previous) : fresh;
    return { translation, structureKey, ownKey, piecesNotes, destinations: gateway ? [] : destinations, proxies: new Set() };
  }

  /** The Envoy outbound listener for a destination's pieces on a local port, shared by every caller on that port. */
  private outboundListener(upstream: Upstream, service: ServiceView, pieces: ServicePieces): Resource {
    let byPort = this.outboundListeners.get(pieces);
    if (!byPort) {
      byPort = new Map();
      this.outboundListeners.set(pieces, byPort);
    }
    let listener = byPort.get(upstream.localPort);
    if (!listener) {
      const fresh = buildOutboundListener(upstream, service, pieces);
      // The listener the pieces these replaced had on this port, when equal: its identity says "unchanged".
      listener = sameIfEqual(fresh, this.replacedListeners.get(pieces)?.get(upstream.localPort));
      byPort.set(upstream.localPort, listener);
    }
    return listener;
  }

  /**
   * The previous generation with each CLA replaced by its destination's current one, when nothing
   * but endpoints changed; undefined (assemble instead) when that cannot be shown to be exact.
   */
  private withNewEndpoints(memo: SnapshotMemo, workload: Workload, flavour: Flavour, previous: Generation): Generation | undefined {
    if (previous.piecesNotes || workload.gateway !== undefined) return undefined;
    const resources = previous.translation.resources;
    const before = resources.get(TypeUrl.ClusterLoadAssignment);
    if (before === undefined) return undefined;
    const current = new Map<string, Resource>();
    const destinations: Destination[] = [];
    for (const upstream of memo.index.upstreamsOf(workload)) {
      const service = memo.index.service(upstream.namespace, upstream.service);
      if (upstreamLeftOut(workload, flavour, upstream, service)) continue;
      const pieces = this.servicePieces(memo, service, flavour, localityPlan(service.trafficPolicy, workload.locality));
      if (pieces.notes.length > 0) return undefined;
      for (const [name, cla] of pieces.loadAssignments) current.set(name, cla);
      // Equal structure: the listener is the one before, found by identity through the replaced pieces.
      destinations.push({ service: serviceKey(service.namespace, service.name), pieces, listener: flavour === 'envoy' ? this.outboundListener(upstream, service, pieces) : undefined });
    }
    if (current.size !== before.size) return undefined;
    const after = new Map<string, Resource>();
    let same = true;
    for (const name of before.keys()) {
      const cla = current.get(name);
      if (cla === undefined) return undefined;
      after.set(name, cla);
      if (cla !== before.get(name)) same = false;
    }
    const next = new Map(resources);
    next.set(TypeUrl.ClusterLoadAssignment, same ? before : after);
    return { ...previous, translation: deepFreeze({ resources: next, notes: previous.translation.notes }), destinations, proxies: new Set() };
  }

  /**
   * The previous generation with the resources of every destination whose shared pieces changed
   * swapped for the new ones, when the proxy's own side and upstream list are unchanged (equal own
   * keys) and every swapped resource keeps its name: a TrafficPolicy change of one destination
   * reaches its callers without rebuilding their inbound side and every other destination.
   * Undefined (assemble instead) when that cannot be shown to be exact.
   */
  private withChangedDestinations(memo: SnapshotMemo, workload: Workload, flavour: Flavour, structureKey: string, previous: Generation): Generation | undefined {
    if (previous.piecesNotes || workload.gateway !== undefined) return undefined;
    const destinations: Destination[] = [];
    // Type → name → the resource to put in place of the one of that name.
    const swaps = new Map<string, Map<string, Resource>>();
    const swapsOf = (typeUrl: string): Map<string, Resource> => {
      let byName = swaps.get(typeUrl);
      if (!byName) {
        byName = new Map();
        swaps.set(typeUrl, byName);
      }
      return byName;
    };
    const swapAll = (typeUrl: string, before: ReadonlyMap<string, Resource>, after: ReadonlyMap<string, Resource>): boolean => {
      if (before.size !== after.size || [...after.keys()].some((name) => !before.has(name))) return false;
      for (const [name, resource] of after) swapsOf(typeUrl).set(name, resource);
      return true;
    };
    const swapOne = (typeUrl: string, before: Resource | undefined, after: Resource | undefined): boolean => {
      if (before === undefined || after === undefined) return before === after;
      if (before.name !== after.name) return false;
      swapsOf(typeUrl).set(String(after.name), after);
      return true;
    };
    const swapped = new Set<ServicePieces>();
    let next = 0;
    for (const upstream of memo.index.upstreamsOf(workload)) {
      const service = memo.index.service(upstream.namespace, upstream.service);
      if (upstreamLeftOut(workload, flavour, upstream, service)) continue;
      const before = previous.destinations[next++];
      if (before === undefined || before.service !== serviceKey(service.namespace, service.name)) return undefined;
      const pieces = this.servicePieces(memo, service, flavour, localityPlan(service.trafficPolicy, workload.locality));
      if (pieces.notes.length > 0) return undefined;
      const listener = flavour === 'envoy' ? this.outboundListener(upstream, service, pieces) : undefined;
      destinations.push({ service: before.service, pieces, listener });
      if (pieces !== before.pieces && !swapped.has(pieces)) {
        swapped.add(pieces);
        if (!swapAll(TypeUrl.Cluster, before.pieces.clusters, pieces.clusters)) return undefined;
        if (!swapAll(TypeUrl.ClusterLoadAssignment, before.pieces.loadAssignments, pieces.loadAssignments)) return undefined;
        if (!swapOne(TypeUrl.RouteConfiguration, before.pieces.routeConfig, pieces.routeConfig)) return undefined;
      }
      if (listener !== before.listener && !swapOne(TypeUrl.Listener, before.listener, listener)) return undefined;
    }
    if (next !== previous.destinations.length) return undefined;
    const resources = new Map(previous.translation.resources);
    for (const [typeUrl, byName] of swaps) {
      const current = resources.get(typeUrl);
      if (current === undefined) return undefined;
      let changed = false;
      for (const [name, resource] of byName) {
        if (!current.has(name)) return undefined;
        if (current.get(name) !== resource) changed = true;
      }
      if (!changed) continue;
      const replaced = new Map(current);
      for (const [name, resource] of byName) replaced.set(name, resource);
      resources.set(typeUrl, replaced);
    }
    const translation = deepFreeze({ resources, notes: previous.translation.notes });
    return { translation, structureKey, ownKey: previous.ownKey, piecesNotes: false, destinations, proxies: new Set() };
  }

  private bind(proxy: string, workloadId: string, previousKey: string | undefined, key: string, generation: Generation): void {
    generation.proxies.add(proxy);
    this.bindings.set(proxy, { workloadId, key });
    if (previousKey !== undefined && previousKey !== key) this.release(proxy, previousKey);
  }

  private release(proxy: string, key: string): void {
    const generation = this.generations.get(key);
    if (!generation) return;
    generation.proxies.delete(proxy);
    if (generation.proxies.size === 0) this.generations.delete(key);
  }

  /** Keeps the caches bounded by what a snapshot holds: gone workloads and services are dropped (the key cache prunes its own). */
  private prune(memo: SnapshotMemo): void {
    const { index, change } = memo;
    if (change !== 'all') {
      for (const id of change.removedWorkloads) this.unbind(id);
      if (![...change.services].some((key) => !index.hasWorkloadsByKey(key))) return;
    } else {
      for (const [proxy, binding] of this.bindings) {
        if (index.input.workloads.has(binding.workloadId)) continue;
        this.bindings.delete(proxy);
        this.release(proxy, binding.key);
      }
    }
    for (const [key, entry] of this.pieces) {
      if (!index.hasWorkloads(entry.namespace, entry.service)) this.pieces.delete(key);
    }
  }

  private servicePieces(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, plan: LocalityPlan): ServicePieces {
    const key = piecesKey(service, flavour, plan);
    const hash = this.keys.serviceHashes(memo, service, flavour, plan).full;
    const cached = this.pieces.get(key);
    if (cached && cached.hash === hash) return cached.pieces;
    const { mesh } = memo.index.input.policies;
    const fresh = buildServicePieces(service, flavour, mesh.trustDomain, plan, callerConnectionLimits(mesh));
    const pieces = cached ? reuseUnchangedPieces(fresh, cached.pieces) : fresh;
    const replacedListeners = cached && this.outboundListeners.get(cached.pieces);
    if (replacedListeners) this.replacedListeners.set(pieces, replacedListeners);
    this.pieces.set(key, { namespace: service.namespace, service: service.name, hash, pieces });
    return pieces;
  }
}
