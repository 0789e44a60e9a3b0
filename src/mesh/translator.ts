import type { Workload } from '../core/workload.js';
import { TypeUrl } from '../xds/contract.js';
import { deepFreeze } from './configurers/common.js';
import { callerConnectionLimits } from './connection-lifetime.js';
import { InputKeys, piecesKey, proxyId, type SnapshotMemo } from './input-keys.js';
import { localityPlan, type LocalityPlan } from './locality.js';
import type { ServiceView } from './model.js';
import { reuseUnchangedPieces, reuseUnchangedResources } from './object-reuse.js';
import { assembleProxy, buildOutboundListener, upstreamLeftOut } from './proxy-assembly.js';
import { buildServicePieces, type ServicePieces } from './service-pieces.js';
import type { Flavour, MeshInput, ProxyResources, Resource, Translation } from './types.js';

interface Generation {
  readonly translation: Translation;
  readonly structureKey: string;
  /** Whether destination pieces added notes (they may depend on endpoints, so the endpoints-only path is not taken). */
  readonly piecesNotes: boolean;
  readonly proxies: Set<string>;
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
 *   one with its CLAs swapped, nothing else rebuilt.
 * When something is rebuilt, resources whose content did not change keep their old identity.
 */
export class MeshTranslator {
  private readonly keys = new InputKeys((memo) => this.prune(memo));
  private readonly pieces = new Map<string, PiecesEntry>();
  /** Envoy outbound listeners by the pieces they route to and the local port (callers on one port share one). */
  private readonly outboundListeners = new WeakMap<ServicePieces, Map<number, Resource>>();
  private readonly generations = new Map<string, Generation>();
  /** Proxy (`flavour|workloadId`) → the generation it was last given. */
  private readonly bindings = new Map<string, Binding>();

  translate(input: MeshInput, workloadId: string, flavour: Flavour): ProxyResources {
    return this.translateWithNotes(input, workloadId, flavour).resources;
  }

  /** `translate`, plus what was left out or adjusted and why. */
  translateWithNotes(input: MeshInput, workloadId: string, flavour: Flavour): Translation {
    const { key, structureKey } = this.keys.keys(input, workloadId, flavour);
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
      this.assemble(memo, workload, flavour, structureKey, previous?.translation);
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

  private assemble(memo: SnapshotMemo, workload: Workload, flavour: Flavour, structureKey: string, previous: Translation | undefined): Generation {
    let piecesNotes = false;
    const fresh = assembleProxy(memo.index, workload, flavour, {
      pieces: (service) => {
        const pieces = this.servicePieces(memo, service, flavour, localityPlan(service.trafficPolicy, workload.locality));
        if (pieces.notes.length > 0) piecesNotes = true;
        return pieces;
      },
      outboundListener: (upstream, service, pieces) => {
        let byPort = this.outboundListeners.get(pieces);
        if (!byPort) {
          byPort = new Map();
          this.outboundListeners.set(pieces, byPort);
        }
        let listener = byPort.get(upstream.localPort);
        if (!listener) {
          listener = buildOutboundListener(upstream, service, pieces);
          byPort.set(upstream.localPort, listener);
        }
        return listener;
      },
    });
    return { translation: previous ? reuseUnchangedResources(fresh, previous) : fresh, structureKey, piecesNotes, proxies: new Set() };
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
    for (const upstream of memo.index.upstreamsOf(workload)) {
      const service = memo.index.service(upstream.namespace, upstream.service);
      if (upstreamLeftOut(workload, flavour, upstream, service)) continue;
      const pieces = this.servicePieces(memo, service, flavour, localityPlan(service.trafficPolicy, workload.locality));
      if (pieces.notes.length > 0) return undefined;
      for (const [name, cla] of pieces.loadAssignments) current.set(name, cla);
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
    return { ...previous, translation: deepFreeze({ resources: next, notes: previous.translation.notes }), proxies: new Set() };
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
    this.pieces.set(key, { namespace: service.namespace, service: service.name, hash, pieces });
    return pieces;
  }
}
