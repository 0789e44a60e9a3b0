import type { Workload } from '../core/workload.js';
import { stableHash } from './hash.js';
import { reuseUnchangedPieces, reuseUnchangedResources } from './object-reuse.js';
import { localityPlan, type LocalityPlan } from './locality.js';
import { MeshIndex, type ServiceView } from './model.js';
import { assembleProxy } from './proxy-assembly.js';
import { proxyInputs } from './proxy-inputs.js';
import { buildServicePieces, servicePiecesInputs, type ServicePieces } from './service-pieces.js';
import { UnknownWorkloadError, type Flavour, type MeshInput, type ProxyResources, type Translation } from './types.js';

/** Per-snapshot derived data, computed at most once per MeshInput. */
interface SnapshotMemo {
  readonly index: MeshIndex;
  readonly serviceHashes: Map<string, string>;
  readonly inputKeys: Map<string, string>;
}

interface Generation {
  readonly translation: Translation;
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
 * Two levels of sharing keep work proportional to change:
 * - per destination service, flavour and locality plan, clusters/CLAs/routes are rebuilt only when a hash of the
 *   inputs they read changes, and are otherwise returned as the very same objects;
 * - per proxy, `inputKey` hashes exactly what affects that proxy; proxies with equal keys (e.g.
 *   replicas of one service) share one generation, and an unchanged key returns it untouched.
 * When something is rebuilt, resources whose content did not change keep their old identity.
 */
export class MeshTranslator {
  private readonly snapshots = new WeakMap<MeshInput, SnapshotMemo>();
  private readonly pieces = new Map<string, PiecesEntry>();
  private readonly generations = new Map<string, Generation>();
  /** Proxy (`flavour|workloadId`) → the generation it was last given. */
  private readonly bindings = new Map<string, Binding>();

  translate(input: MeshInput, workloadId: string, flavour: Flavour): ProxyResources {
    return this.translateWithNotes(input, workloadId, flavour).resources;
  }

  /** `translate`, plus what was left out or adjusted and why. */
  translateWithNotes(input: MeshInput, workloadId: string, flavour: Flavour): Translation {
    const key = this.inputKey(input, workloadId, flavour);
    const proxy = proxyId(workloadId, flavour);
    const previousKey = this.bindings.get(proxy)?.key;
    const existing = this.generations.get(key);
    if (existing) {
      this.bind(proxy, workloadId, previousKey, key, existing);
      return existing.translation;
    }
    const memo = this.memo(input);
    const trustDomain = input.policies.mesh.trustDomain;
    const workload = this.workload(input, workloadId);
    const fresh = assembleProxy(memo.index, workload, flavour, (service) =>
      this.servicePieces(memo, service, flavour, trustDomain, localityPlan(service.trafficPolicy, workload.locality)),
    );
    const previous = previousKey === undefined ? undefined : this.generations.get(previousKey)?.translation;
    const generation: Generation = { translation: previous ? reuseUnchangedResources(fresh, previous) : fresh, proxies: new Set() };
    this.generations.set(key, generation);
    this.bind(proxy, workloadId, previousKey, key, generation);
    return generation.translation;
  }

  /** A hash of exactly the inputs that affect this proxy's resources. */
  inputKey(input: MeshInput, workloadId: string, flavour: Flavour): string {
    const memo = this.memo(input);
    const proxy = proxyId(workloadId, flavour);
    let key = memo.inputKeys.get(proxy);
    if (key === undefined) {
      const trustDomain = input.policies.mesh.trustDomain;
      const workload = this.workload(input, workloadId);
      key = stableHash(
        proxyInputs(memo.index, workload, flavour, (service) =>
          this.serviceHash(memo, service, flavour, trustDomain, localityPlan(service.trafficPolicy, workload.locality)),
        ),
      );
      memo.inputKeys.set(proxy, key);
    }
    return key;
  }

  /**
   * Drops what is kept for a workload (its generation, if no other proxy shares it). Optional:
   * workloads missing from a newly seen snapshot are forgotten automatically.
   */
  forget(workloadId: string): void {
    for (const flavour of ['envoy', 'grpc'] as const) {
      const proxy = proxyId(workloadId, flavour);
      const binding = this.bindings.get(proxy);
      if (binding === undefined) continue;
      this.bindings.delete(proxy);
      this.release(proxy, binding.key);
    }
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

  private workload(input: MeshInput, workloadId: string): Workload {
    const workload = input.workloads.get(workloadId);
    if (!workload) throw new UnknownWorkloadError(workloadId);
    return workload;
  }

  private memo(input: MeshInput): SnapshotMemo {
    let memo = this.snapshots.get(input);
    if (!memo) {
      memo = { index: new MeshIndex(input), serviceHashes: new Map(), inputKeys: new Map() };
      this.snapshots.set(input, memo);
      this.prune(memo.index);
    }
    return memo;
  }

  /** Keeps the caches bounded by what a snapshot holds: gone workloads and services are dropped. */
  private prune(index: MeshIndex): void {
    for (const [proxy, binding] of this.bindings) {
      if (index.input.workloads.has(binding.workloadId)) continue;
      this.bindings.delete(proxy);
      this.release(proxy, binding.key);
    }
    for (const [key, entry] of this.pieces) {
      if (!index.hasWorkloads(entry.namespace, entry.service)) this.pieces.delete(key);
    }
  }

  private serviceHash(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, trustDomain: string, plan: LocalityPlan): string {
    const key = piecesKey(service, flavour, plan);
    let hash = memo.serviceHashes.get(key);
    if (hash === undefined) {
      hash = stableHash(servicePiecesInputs(service, flavour, trustDomain, plan));
      memo.serviceHashes.set(key, hash);
    }
    return hash;
  }

  private servicePieces(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, trustDomain: string, plan: LocalityPlan): ServicePieces {
    const key = piecesKey(service, flavour, plan);
    const hash = this.serviceHash(memo, service, flavour, trustDomain, plan);
    const cached = this.pieces.get(key);
    if (cached && cached.hash === hash) return cached.pieces;
    const fresh = buildServicePieces(service, flavour, trustDomain, plan);
    const pieces = cached ? reuseUnchangedPieces(fresh, cached.pieces) : fresh;
    this.pieces.set(key, { namespace: service.namespace, service: service.name, hash, pieces });
    return pieces;
  }
}

function proxyId(workloadId: string, flavour: Flavour): string {
  return `${flavour}|${workloadId}`;
}

/** Callers with different locality plans see different CLAs (priorities, weights). */
function piecesKey(service: ServiceView, flavour: Flavour, plan: LocalityPlan): string {
  return `${flavour}|${service.namespace}/${service.name}|${plan.kind === 'none' ? '' : stableHash(plan)}`;
}
