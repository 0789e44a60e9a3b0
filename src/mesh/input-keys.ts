import { digest } from '../core/digest.js';
import type { MeshSpec } from '../core/policy.js';
import { serviceKey, type Workload } from '../core/workload.js';
import { callerConnectionLimits, type CallerConnectionLimits } from './connection-lifetime.js';
import { canonicalJson, stableHash } from './hash.js';
import { localityPlan, type LocalityPlan } from './locality.js';
import { MeshIndex, type NamedAuthorizationPolicy, type PolicyLookup, type ServiceView } from './model.js';
import { gatewayInputs, inboundInputs, proxyShape } from './proxy-inputs.js';
import { serviceEndpointInputs, serviceStructureInputs } from './service-pieces.js';
import { DependentIndex, dependencyKey } from './dependents.js';
import { sameElements } from './object-reuse.js';
import { changedSince, type SnapshotChange } from './snapshot-diff.js';
import { UnknownWorkloadError, type Flavour, type MeshInput } from './types.js';

/** What a destination service contributes to its callers' keys. */
export interface ServiceHashes {
  /** Clusters, routes and listeners read this: everything but the endpoints. */
  readonly structure: string;
  /** Everything its shared pieces read, endpoints included. */
  readonly full: string;
}

/** One proxy's keys for one snapshot. */
export interface ProxyKeys {
  /** Changes whenever anything the proxy's resources are built from changes. */
  readonly key: string;
  /** Changes whenever anything but its destinations' endpoints changes: equal means only CLAs differ. */
  readonly structureKey: string;
  /**
   * Changes whenever its own side (shape, upstream list, inbound policies) changes: equal means
   * only its destinations' shared pieces may differ.
   */
  readonly ownKey: string;
}

/** Per-snapshot derived data, computed at most once per MeshInput. */
export interface SnapshotMemo {
  readonly index: MeshIndex;
  /** Counts snapshots in the order they were first seen. */
  readonly epoch: number;
  /** What changed since the snapshot first seen just before this one. */
  readonly change: SnapshotChange;
  readonly serviceHashes: Map<string, ServiceHashes>;
  readonly inbound: Map<string, InboundHash>;
  /** Keys of proxies kept without a record (gateways, recomputed on every snapshot), once per snapshot. */
  readonly unrecorded: Map<string, ProxyKeys>;
  /** Keys by what they are computed from (shape hash and locality): replicas of a service compute them once. */
  readonly groups: Map<string, GroupKeys>;
  /**
   * The previous snapshot's keys → this one's, for proxies reached only through a service they
   * depend on (see `keys`): every proxy that shared the old keys shares the new ones.
   */
  readonly transitions: Map<ProxyKeys, GroupKeys>;
}

interface GroupKeys {
  readonly keys: ProxyKeys;
  readonly services: readonly string[];
  /** `services` joined (dependents.ts), computed once per group rather than once per proxy. */
  readonly servicesKey: string;
}

interface InboundHash {
  readonly hash: string;
  /** Services named as callers: their service accounts are in the hash. */
  readonly callers: readonly string[];
}

/** A hash kept across snapshots while the objects it was computed from are the same ones. */
interface ServiceHashEntry {
  readonly namespace: string;
  readonly service: string;
  readonly workloads: readonly Workload[];
  readonly trafficPolicy: unknown;
  readonly trustDomain: string;
  readonly limits: CallerConnectionLimits;
  readonly hashes: ServiceHashes;
}

interface InboundHashEntry {
  readonly namespace: string;
  readonly service: string;
  readonly policies: readonly NamedAuthorizationPolicy[];
  readonly callerAccounts: string;
  readonly hash: string;
}

export interface ShapeEntry {
  readonly flavour: Flavour;
  readonly mesh: MeshSpec;
  readonly upstreamPolicies: readonly unknown[];
  readonly hash: string;
  readonly upstreams: readonly { readonly namespace: string; readonly service: string }[];
}

/** A proxy's keys and what they were computed from, so the next snapshot can keep them without re-hashing. */
interface KeyRecord {
  epoch: number;
  keys: ProxyKeys;
  readonly workload: Workload;
  /** Services whose change can change the keys: its upstreams and the callers its policies name. */
  services: readonly string[];
  servicesKey: string;
}

/**
 * The keys translation is cached by (proxy-inputs.ts says what goes in), computed so that a
 * change costs what it changed: every part is hashed once and kept while its inputs are the same
 * objects, and a proxy whose workload and dependencies did not change between two consecutive
 * snapshots keeps its keys without any hashing.
 */
export class InputKeys {
  private readonly snapshots = new WeakMap<MeshInput, SnapshotMemo>();
  /** The lookup of the newest snapshot's PolicySet, reused while the set is the same object. */
  private policyLookup: PolicyLookup | undefined;
  private readonly serviceHashCache = new Map<string, ServiceHashEntry>();
  private readonly inboundHashCache = new Map<string, InboundHashEntry>();
  private readonly shapes = new WeakMap<Workload, ShapeEntry[]>();
  private readonly records = new Map<string, KeyRecord>();
  private readonly dependents = new DependentIndex();
  private epoch = 0;
  /** The snapshot first seen last: the next new one is compared with it, and its index derived from this one's. */
  private lastMemo: SnapshotMemo | undefined;

  constructor(
    /** Called with each newly seen snapshot's memo, so the owner can prune its own caches. */
    private readonly onNewSnapshot: (memo: SnapshotMemo) => void = () => undefined,
  ) {}

  memo(input: MeshInput): SnapshotMemo {
    let memo = this.snapshots.get(input);
    if (!memo) {
      const last = this.lastMemo;
      const change: SnapshotChange = last === undefined ? 'all' : changedSince(last.index.input, input);
      const index = last !== undefined && change !== 'all' ? MeshIndex.derive(last.index, input, change.workloads, change.services) : new MeshIndex(input, this.policyLookup);
      this.policyLookup = index.policies;
      memo = { index, epoch: ++this.epoch, change, serviceHashes: new Map(), inbound: new Map(), unrecorded: new Map(), groups: new Map(), transitions: new Map() };
      this.lastMemo = memo;
      this.snapshots.set(input, memo);
      this.prune(memo);
      this.onNewSnapshot(memo);
    }
    return memo;
  }

  workload(input: MeshInput, workloadId: string): Workload {
    const workload = input.workloads.get(workloadId);
    if (!workload) throw new UnknownWorkloadError(workloadId);
    return workload;
  }

  keys(input: MeshInput, workloadId: string, flavour: Flavour): ProxyKeys {
    const memo = this.memo(input);
    const proxy = proxyId(workloadId, flavour);
    const workload = this.workload(input, workloadId);
    const record = this.records.get(proxy);
    if (record !== undefined) {
      // Already keyed for this snapshot: a record's epoch says so (no per-snapshot map of every proxy).
      if (record.epoch === memo.epoch && record.workload === workload) return record.keys;
      if (ownInputsUnchanged(record, memo, workload)) {
        if (!dependencyChanged(record, memo)) {
          record.epoch = memo.epoch;
          return record.keys;
        }
        return this.followTransition(memo, record, workload, flavour, proxy);
      }
    }
    let keys = memo.unrecorded.get(proxy);
    if (keys !== undefined) return keys;
    keys = this.computeKeys(memo, workload, flavour, proxy).keys;
    if (!this.records.has(proxy)) memo.unrecorded.set(proxy, keys);
    return keys;
  }

  /**
   * A proxy whose own inputs are unchanged and that is reached only through a service it depends
   * on (an endpoint added to a service every proxy calls, say) gets the new keys the first proxy
   * that shared its old keys got: those proxies had one shape and locality, so they compute the
   * same keys again. A change reaching 10,000 proxies in 1,000 groups computes 1,000 keys.
   */
  private followTransition(memo: SnapshotMemo, record: KeyRecord, workload: Workload, flavour: Flavour, proxy: string): ProxyKeys {
    const previous = record.keys;
    let next = memo.transitions.get(previous);
    if (next === undefined) {
      next = this.computeKeys(memo, workload, flavour, proxy);
      memo.transitions.set(previous, next);
      return next.keys;
    }
    record.epoch = memo.epoch;
    record.keys = next.keys;
    if (record.servicesKey !== next.servicesKey) {
      record.services = next.services;
      record.servicesKey = next.servicesKey;
      this.dependents.track(proxy, workload.id, next.services, next.servicesKey);
    }
    return next.keys;
  }

  /** The proxy's shape and its hash, kept per workload object while the mesh and its UpstreamPolicies are the same. */
  shape(index: MeshIndex, workload: Workload, flavour: Flavour): ShapeEntry {
    const mesh = index.input.policies.mesh;
    const upstreamPolicies = index.policies.upstreamPolicies(workload.namespace, workload.service);
    const entries = this.shapes.get(workload) ?? [];
    const cached = entries.find((e) => e.flavour === flavour);
    if (cached && cached.mesh === mesh && sameElements(cached.upstreamPolicies, upstreamPolicies)) return cached;
    const shape = proxyShape(index, workload, flavour);
    // Built in a fixed key order (proxy-inputs.ts), so plain JSON is canonical: sorting keys as
    // canonicalJson does was 230 ms of a 10,000-proxy restart, where every workload object is new.
    const entry: ShapeEntry = { flavour, mesh, upstreamPolicies, hash: digest('sha256', JSON.stringify(shape.value), 'base64url'), upstreams: shape.upstreams };
    this.shapes.set(workload, [...entries.filter((e) => e !== cached), entry]);
    return entry;
  }

  /** A destination's hashes for callers with this locality plan, re-hashed only when its workloads or policy objects change. */
  serviceHashes(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, plan: LocalityPlan): ServiceHashes {
    const key = piecesKey(service, flavour, plan);
    let hashes = memo.serviceHashes.get(key);
    if (hashes !== undefined) return hashes;
    const { trustDomain } = memo.index.input.policies.mesh;
    const limits = callerConnectionLimits(memo.index.input.policies.mesh);
    const cached = this.serviceHashCache.get(key);
    if (
      cached &&
      cached.trafficPolicy === service.trafficPolicy &&
      cached.trustDomain === trustDomain &&
      cached.limits.maxDurationMs === limits.maxDurationMs &&
      sameElements(cached.workloads, service.workloads)
    ) {
      hashes = cached.hashes;
    } else {
      const structure = stableHash(serviceStructureInputs(service, flavour, trustDomain, plan, limits));
      hashes = { structure, full: stableHash([structure, serviceEndpointInputs(service)]) };
      this.serviceHashCache.set(key, { namespace: service.namespace, service: service.name, workloads: service.workloads, trafficPolicy: service.trafficPolicy, trustDomain, limits, hashes });
    }
    memo.serviceHashes.set(key, hashes);
    return hashes;
  }

  /**
   * Workloads whose proxies' keys may differ between two snapshots: those added, removed or
   * replaced, those depending on a service that changed (its workloads or its TrafficPolicy), and
   * those of a service whose own policies changed; `all` when the mesh settings or Gateway API
   * documents changed. A proxy of any other workload has exactly the keys it had.
   */
  affectedWorkloads(before: MeshInput, after: MeshInput): ReadonlySet<string> | 'all' {
    const change = changedSince(before, after);
    if (change === 'all') return 'all';
    const affected = new Set(change.workloads);
    this.dependents.workloadsDependingOn(change.services, affected);
    if (change.sources.size > 0) {
      const { index } = this.memo(after);
      for (const source of change.sources) for (const workload of index.workloadsByKey(source)) affected.add(workload.id);
    }
    return affected;
  }

  forget(workloadId: string): void {
    for (const flavour of ['envoy', 'grpc'] as const) this.dropRecord(proxyId(workloadId, flavour));
  }

  private computeKeys(memo: SnapshotMemo, workload: Workload, flavour: Flavour, proxy: string): GroupKeys {
    const shape = this.shape(memo.index, workload, flavour);
    const gateway = flavour === 'envoy' && workload.gateway !== undefined;
    if (gateway) {
      // A gateway reads routes and backends besides its upstreams: recomputed on every snapshot.
      this.dropRecord(proxy);
      this.dependents.trackAlways(proxy, workload.id);
      return this.hashKeys(memo, workload, flavour, shape, true);
    }
    // Everything but the locality is in the shape hash; equal shapes (replicas) share their keys.
    const { region, zone, subZone } = workload.locality;
    const groupKey = `${shape.hash}|${region ?? ''}|${zone ?? ''}|${subZone ?? ''}`;
    let group = memo.groups.get(groupKey);
    if (!group) {
      group = this.hashKeys(memo, workload, flavour, shape, false);
      memo.groups.set(groupKey, group);
    }
    this.records.set(proxy, { epoch: memo.epoch, keys: group.keys, workload, services: group.services, servicesKey: group.servicesKey });
    this.dependents.track(proxy, workload.id, group.services, group.servicesKey);
    return group;
  }

  private hashKeys(memo: SnapshotMemo, workload: Workload, flavour: Flavour, shape: ShapeEntry, gateway: boolean): GroupKeys {
    const hashesOf = (service: ServiceView): ServiceHashes => this.serviceHashes(memo, service, flavour, localityPlan(service.trafficPolicy, workload.locality));
    const inbound = this.inboundHash(memo, workload.namespace, workload.service);
    // Joined first and hashed once: one digest of the whole text costs less than an update per piece.
    let structure = `${shape.hash}\n${inbound.hash}`;
    let endpoints = '';
    for (const upstream of shape.upstreams) {
      const hashes = hashesOf(memo.index.service(upstream.namespace, upstream.service));
      structure += `\n${hashes.structure}`;
      endpoints += `\n${hashes.full}`;
    }
    if (gateway) structure += `\n${canonicalJson(gatewayInputs(memo.index, workload, (service) => hashesOf(service).full))}`;
    const structureKey = digest('sha256', structure, 'base64url');
    const keys: ProxyKeys = { structureKey, key: digest('sha256', `${endpoints}\n${structureKey}`, 'base64url'), ownKey: `${shape.hash}\n${inbound.hash}` };
    const services = [...shape.upstreams.map((u) => serviceKey(u.namespace, u.service)), ...inbound.callers];
    return { keys, services, servicesKey: dependencyKey(services) };
  }

  private dropRecord(proxy: string): void {
    this.records.delete(proxy);
    this.dependents.untrack(proxy);
  }

  /** Hash of a service's authorization inputs, re-hashed only when its policies or their callers' accounts change. */
  private inboundHash(memo: SnapshotMemo, namespace: string, service: string): InboundHash {
    const key = serviceKey(namespace, service);
    let inbound = memo.inbound.get(key);
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
    memo.inbound.set(key, inbound);
    return inbound;
  }

  /** Keeps the caches bounded by what a snapshot holds: records of gone workloads, hashes of services with none. */
  private prune(memo: SnapshotMemo): void {
    const { index, change } = memo;
    if (change === 'all') {
      for (const [proxy, record] of this.records) if (!index.input.workloads.has(record.workload.id)) this.dropRecord(proxy);
    } else {
      for (const id of change.removedWorkloads) this.forget(id);
      if (![...change.services].some((key) => !index.hasWorkloadsByKey(key))) return;
    }
    for (const cache of [this.serviceHashCache, this.inboundHashCache]) {
      for (const [key, entry] of cache) if (!index.hasWorkloads(entry.namespace, entry.service)) cache.delete(key);
    }
  }
}

export function proxyId(workloadId: string, flavour: Flavour): string {
  return `${flavour}|${workloadId}`;
}

/** Callers with different locality plans see different CLAs (priorities, weights). */
export function piecesKey(service: ServiceView, flavour: Flavour, plan: LocalityPlan): string {
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
 * Whether the proxy's own inputs (its workload, its service's policies, the mesh settings) are
 * those of the snapshot just before this one, so its keys can differ only through the services it
 * depends on: unchanged if none of those changed, else the keys every proxy that shared its old
 * keys gets (`followTransition`).
 */
function ownInputsUnchanged(record: KeyRecord, memo: SnapshotMemo, workload: Workload): boolean {
  if (record.workload !== workload || memo.change === 'all' || record.epoch !== memo.epoch - 1) return false;
  return !memo.change.sources.has(serviceKey(workload.namespace, workload.service));
}

/** Whether a service the proxy depends on (an upstream, a caller its policies name) changed since the snapshot before. */
function dependencyChanged(record: KeyRecord, memo: SnapshotMemo): boolean {
  if (memo.change === 'all') return true;
  const changed = memo.change.services;
  if (changed.size === 0) return false;
  for (const service of record.services) if (changed.has(service)) return true;
  return false;
}
