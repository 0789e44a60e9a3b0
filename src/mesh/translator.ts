import { createHash } from 'node:crypto';
import { serviceKey, type Workload } from '../core/workload.js';
import type { MeshSpec } from '../core/policy.js';
import { canonicalJson, stableHash } from './hash.js';
import { reuseUnchangedPieces, reuseUnchangedResources } from './object-reuse.js';
import { localityPlan, type LocalityPlan } from './locality.js';
import { MeshIndex, type NamedAuthorizationPolicy, type PolicyLookup, type ServiceView } from './model.js';
import { assembleProxy } from './proxy-assembly.js';
import { gatewayInputs, inboundInputs, proxyShape } from './proxy-inputs.js';
import { changedServices } from './snapshot-diff.js';
import { buildServicePieces, servicePiecesInputs, type ServicePieces } from './service-pieces.js';
import { UnknownWorkloadError, type Flavour, type MeshInput, type ProxyResources, type Translation } from './types.js';

/** Per-snapshot derived data, computed at most once per MeshInput. */
interface SnapshotMemo {
  readonly index: MeshIndex;
  readonly serviceHashes: Map<string, string>;
  /** Service key → hash of its inbound (authorization) inputs. */
  readonly inboundHashes: Map<string, InboundHash>;
  readonly inputKeys: Map<string, string>;
  /** Counts snapshots in the order they were first seen. */
  readonly epoch: number;
  /** Services changed since the snapshot first seen just before this one (`all`: anything may have). */
  readonly changed: ReadonlySet<string> | 'all';
}

/** A proxy's key and what it was computed from, so the next snapshot can keep it without re-hashing. */
interface KeyRecord {
  epoch: number;
  readonly key: string;
  readonly workload: Workload;
  /** Services whose change can change the key: its upstreams and the callers its policies name. */
  readonly services: readonly string[];
}

/** A hash kept across snapshots while the objects it was computed from are the same ones. */
interface ServiceHashEntry {
  readonly namespace: string;
  readonly service: string;
  readonly workloads: readonly Workload[];
  readonly trafficPolicy: unknown;
  readonly trustDomain: string;
  readonly hash: string;
}

interface InboundHash {
  readonly hash: string;
  /** Services named as callers: their service accounts are in the hash. */
  readonly callers: readonly string[];
}

interface InboundHashEntry {
  readonly namespace: string;
  readonly service: string;
  readonly policies: readonly NamedAuthorizationPolicy[];
  readonly callerAccounts: string;
  readonly hash: string;
}

interface ShapeEntry {
  readonly flavour: Flavour;
  readonly mesh: MeshSpec;
  readonly upstreamPolicies: readonly unknown[];
  readonly hash: string;
  readonly upstreams: readonly { readonly namespace: string; readonly service: string }[];
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
  /** The lookup of the newest snapshot's PolicySet, reused while the set is the same object. */
  private policyLookup: PolicyLookup | undefined;
  private readonly serviceHashCache = new Map<string, ServiceHashEntry>();
  private readonly inboundHashCache = new Map<string, InboundHashEntry>();
  private readonly shapes = new WeakMap<Workload, ShapeEntry[]>();
  private readonly keyRecords = new Map<string, KeyRecord>();
  private epoch = 0;
  /** The snapshot first seen last: the next new one is compared with it. */
  private lastInput: MeshInput | undefined;
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

  /**
   * A hash of exactly the inputs that affect this proxy's resources (proxy-inputs.ts), composed
   * from parts that are each hashed once and kept while their inputs are the same objects: a
   * change re-hashes what it changed, not every proxy's inputs.
   */
  inputKey(input: MeshInput, workloadId: string, flavour: Flavour): string {
    const memo = this.memo(input);
    const proxy = proxyId(workloadId, flavour);
    let key = memo.inputKeys.get(proxy);
    if (key !== undefined) return key;
    const workload = this.workload(input, workloadId);
    const record = this.keyRecords.get(proxy);
    if (record && unaffected(record, memo, workload)) {
      record.epoch = memo.epoch;
      key = record.key;
    } else {
      key = this.computeKey(memo, workload, flavour, proxy);
    }
    memo.inputKeys.set(proxy, key);
    return key;
  }

  private computeKey(memo: SnapshotMemo, workload: Workload, flavour: Flavour, proxy: string): string {
    const trustDomain = memo.index.input.policies.mesh.trustDomain;
    const hashOf = (service: ServiceView): string =>
      this.serviceHash(memo, service, flavour, trustDomain, localityPlan(service.trafficPolicy, workload.locality));
    const shape = this.shape(memo.index, workload, flavour);
    const inbound = this.inboundHash(memo, workload.namespace, workload.service);
    const hash = createHash('sha256').update(shape.hash).update('\n').update(inbound.hash);
    for (const upstream of shape.upstreams) hash.update('\n').update(hashOf(memo.index.service(upstream.namespace, upstream.service)));
    const gateway = flavour === 'envoy' && workload.gateway !== undefined;
    if (gateway) hash.update('\n').update(canonicalJson(gatewayInputs(memo.index, workload, hashOf)));
    const key = hash.digest('base64url');
    if (gateway) {
      // A gateway reads routes and backends besides its upstreams: recomputed on every snapshot.
      this.keyRecords.delete(proxy);
    } else {
      const services = [...shape.upstreams.map((u) => serviceKey(u.namespace, u.service)), ...inbound.callers];
      this.keyRecords.set(proxy, { epoch: memo.epoch, key, workload, services });
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
      this.keyRecords.delete(proxy);
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
      const index = new MeshIndex(input, this.policyLookup);
      this.policyLookup = index.policies;
      const changed = this.lastInput === undefined ? 'all' : changedServices(this.lastInput, input);
      this.lastInput = input;
      memo = { index, serviceHashes: new Map(), inboundHashes: new Map(), inputKeys: new Map(), epoch: ++this.epoch, changed };
      this.snapshots.set(input, memo);
      this.prune(memo.index);
    }
    return memo;
  }

  /** Keeps the caches bounded by what a snapshot holds: gone workloads and services are dropped. */
  private prune(index: MeshIndex): void {
    for (const [proxy, record] of this.keyRecords) if (!index.input.workloads.has(record.workload.id)) this.keyRecords.delete(proxy);
    for (const [proxy, binding] of this.bindings) {
      if (index.input.workloads.has(binding.workloadId)) continue;
      this.bindings.delete(proxy);
      this.release(proxy, binding.key);
    }
    for (const [key, entry] of this.pieces) {
      if (!index.hasWorkloads(entry.namespace, entry.service)) this.pieces.delete(key);
    }
    for (const cache of [this.serviceHashCache, this.inboundHashCache]) {
      for (const [key, entry] of cache) if (!index.hasWorkloads(entry.namespace, entry.service)) cache.delete(key);
    }
  }

  /** The proxy's shape and its hash, kept per workload object while the mesh and its UpstreamPolicies are the same. */
  private shape(index: MeshIndex, workload: Workload, flavour: Flavour): ShapeEntry {
    const mesh = index.input.policies.mesh;
    const upstreamPolicies = index.policies.upstreamPolicies(workload.namespace, workload.service);
    const entries = this.shapes.get(workload) ?? [];
    const cached = entries.find((e) => e.flavour === flavour);
    if (cached && cached.mesh === mesh && sameElements(cached.upstreamPolicies, upstreamPolicies)) return cached;
    const shape = proxyShape(index, workload, flavour);
    const entry: ShapeEntry = { flavour, mesh, upstreamPolicies, hash: stableHash(shape.value), upstreams: shape.upstreams };
    this.shapes.set(workload, [...entries.filter((e) => e !== cached), entry]);
    return entry;
  }

  /** Hash of a service's authorization inputs, re-hashed only when its policies or their callers' accounts change. */
  private inboundHash(memo: SnapshotMemo, namespace: string, service: string): InboundHash {
    const key = serviceKey(namespace, service);
    let inbound = memo.inboundHashes.get(key);
    if (inbound !== undefined) return inbound;
    const inputs = inboundInputs(memo.index, namespace, service);
    const callers = Object.keys(inputs.callerAccounts);
    const callerAccounts = inputs.policies.length === 0 ? '' : canonicalJson(inputs.callerAccounts);
    const cached = this.inboundHashCache.get(key);
    let hash: string;
    if (cached && sameElements(cached.policies, inputs.policies) && cached.callerAccounts === callerAccounts) {
      hash = cached.hash;
    } else {
      hash = inputs.policies.length === 0 ? 'no-policies' : stableHash(inputs);
      this.inboundHashCache.set(key, { namespace, service, policies: inputs.policies, callerAccounts, hash });
    }
    inbound = { hash, callers };
    memo.inboundHashes.set(key, inbound);
    return inbound;
  }

  private serviceHash(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, trustDomain: string, plan: LocalityPlan): string {
    const key = piecesKey(service, flavour, plan);
    let hash = memo.serviceHashes.get(key);
    if (hash !== undefined) return hash;
    const cached = this.serviceHashCache.get(key);
    if (cached && cached.trafficPolicy === service.trafficPolicy && cached.trustDomain === trustDomain && sameElements(cached.workloads, service.workloads)) {
      hash = cached.hash;
    } else {
      hash = stableHash(servicePiecesInputs(service, flavour, trustDomain, plan));
      this.serviceHashCache.set(key, { namespace: service.namespace, service: service.name, workloads: service.workloads, trafficPolicy: service.trafficPolicy, trustDomain, hash });
    }
    memo.serviceHashes.set(key, hash);
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
  return `${flavour}|${service.namespace}/${service.name}|${planKey(plan)}`;
}

/** A plan as a string, field by field (cheaper than hashing it: it is computed per caller and upstream). */
function planKey(plan: LocalityPlan): string {
  switch (plan.kind) {
    case 'none':
      return '';
    case 'failover':
      return JSON.stringify(['failover', plan.caller.region ?? null, plan.caller.zone ?? null, plan.caller.subZone ?? null, plan.failoverRegions]);
    case 'distribute':
      return JSON.stringify(['distribute', plan.caller.region ?? null, plan.caller.zone ?? null, plan.caller.subZone ?? null, plan.to.map((t) => [t.pattern, t.weight])]);
  }
}

/**
 * Whether a key computed for the snapshot just before this one still holds: the same workload
 * object, no policy change, and none of the services it depends on changed.
 */
function unaffected(record: KeyRecord, memo: SnapshotMemo, workload: Workload): boolean {
  if (record.workload !== workload || memo.changed === 'all') return false;
  if (record.epoch === memo.epoch) return true;
  if (record.epoch !== memo.epoch - 1) return false;
  const changed = memo.changed;
  if (changed.size === 0) return true;
  for (const service of record.services) if (changed.has(service)) return false;
  return true;
}

/** Same length and the very same elements (inputs are immutable, so identity implies equal content). */
function sameElements(a: readonly unknown[], b: readonly unknown[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
