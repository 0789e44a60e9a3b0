import { isIP } from 'node:net';
import type { Workload } from '../core/workload.js';
import { TypeUrl } from '../xds/contract.js';
import { deepFreeze } from './configurers/common.js';
import { isHttpProtocol } from './configurers/http.js';
import { planRbac, type RbacContext, type RbacLayer } from './configurers/rbac.js';
import { inboundCluster } from './envoy/clusters.js';
import { inboundListener, outboundListener } from './envoy/listeners.js';
import { clientListener, serverListener } from './grpc/listeners.js';
import { maxConnectionDurationMs } from './connection-lifetime.js';
import { canonicalJson, stableHash } from './hash.js';
import { MeshIndex, type NamedAuthorizationPolicy, type ServiceView } from './model.js';
import { grpcClientListenerNames, outboundRouteName } from './names.js';
import { buildServicePieces, servicePiecesInputs, type ServicePieces } from './service-pieces.js';
import {
  UnknownWorkloadError,
  type Flavour,
  type MeshInput,
  type ProxyResources,
  type Resource,
  type Translation,
  type TranslationNote,
} from './types.js';

const RESOURCE_TYPES = [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment] as const;

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

/**
 * Registry + policies → each proxy's resources. Pure apart from memo caches: no I/O, no clock.
 *
 * Two levels of sharing keep work proportional to change:
 * - per destination service and flavour, clusters/CLAs/routes are rebuilt only when a hash of the
 *   inputs they read changes, and are otherwise returned as the very same objects;
 * - per proxy, `inputKey` hashes exactly what affects that proxy; proxies with equal keys (e.g.
 *   replicas of one service) share one generation, and an unchanged key returns it untouched.
 */
export class MeshTranslator {
  private readonly snapshots = new WeakMap<MeshInput, SnapshotMemo>();
  private readonly pieces = new Map<string, { readonly hash: string; readonly pieces: ServicePieces }>();
  private readonly generations = new Map<string, Generation>();
  private readonly bindings = new Map<string, string>();

  translate(input: MeshInput, workloadId: string, flavour: Flavour): ProxyResources {
    return this.translateWithNotes(input, workloadId, flavour).resources;
  }

  /** `translate`, plus what was left out or adjusted and why. */
  translateWithNotes(input: MeshInput, workloadId: string, flavour: Flavour): Translation {
    const key = this.inputKey(input, workloadId, flavour);
    const proxy = proxyId(workloadId, flavour);
    const previousKey = this.bindings.get(proxy);
    const existing = this.generations.get(key);
    if (existing) {
      this.bind(proxy, previousKey, key, existing);
      return existing.translation;
    }
    const workload = this.workload(input, workloadId);
    const fresh = this.generate(this.memo(input), workload, flavour);
    const previous = previousKey === undefined ? undefined : this.generations.get(previousKey)?.translation;
    const translation = previous ? reuseUnchanged(fresh, previous) : fresh;
    const generation: Generation = { translation, proxies: new Set() };
    this.generations.set(key, generation);
    this.bind(proxy, previousKey, key, generation);
    return translation;
  }

  /** A hash of exactly the inputs that affect this proxy's resources. */
  inputKey(input: MeshInput, workloadId: string, flavour: Flavour): string {
    const memo = this.memo(input);
    const cacheKey = proxyId(workloadId, flavour);
    const cached = memo.inputKeys.get(cacheKey);
    if (cached !== undefined) return cached;
    const workload = this.workload(input, workloadId);
    const { index } = memo;
    const mesh = input.policies.mesh;
    const policies = index.authorizationPolicies(workload.namespace, workload.service);
    const upstreams = index.upstreamsOf(workload).map((u) => ({
      service: u.service,
      namespace: u.namespace,
      // grpc clients dial by name; the local port means nothing to them.
      ...(flavour === 'envoy' ? { localPort: u.localPort } : {}),
      pieces: this.serviceHash(memo, index.service(u.namespace, u.service), flavour, mesh.trustDomain),
    }));
    const key = stableHash({
      flavour,
      workload: {
        service: workload.service,
        namespace: workload.namespace,
        port: workload.port,
        meshPort: workload.meshPort,
        protocol: workload.protocol,
        ...(flavour === 'grpc' ? { address: workload.address } : {}),
      },
      mesh: {
        trustDomain: mesh.trustDomain,
        mtls: mesh.mtls,
        ...(flavour === 'envoy' ? { maxConnectionDurationMs: maxConnectionDurationMs(mesh) } : {}),
      },
      policies,
      callerAccounts: callerServiceAccounts(policies, index),
      upstreams: flavour === 'grpc' ? uniqueBy(upstreams, (u) => `${u.namespace}/${u.service}`) : upstreams,
    });
    memo.inputKeys.set(cacheKey, key);
    return key;
  }

  /** Drops what is kept for a workload that is gone (its generation, if no other proxy shares it). */
  forget(workloadId: string): void {
    for (const flavour of ['envoy', 'grpc'] as const) {
      const proxy = proxyId(workloadId, flavour);
      const key = this.bindings.get(proxy);
      if (key === undefined) continue;
      this.bindings.delete(proxy);
      this.release(proxy, key);
    }
  }

  private bind(proxy: string, previousKey: string | undefined, key: string, generation: Generation): void {
    generation.proxies.add(proxy);
    this.bindings.set(proxy, key);
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
    }
    return memo;
  }

  private serviceHash(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, trustDomain: string): string {
    const key = piecesKey(service, flavour);
    let hash = memo.serviceHashes.get(key);
    if (hash === undefined) {
      hash = stableHash(servicePiecesInputs(service, flavour, trustDomain));
      memo.serviceHashes.set(key, hash);
    }
    return hash;
  }

  private servicePieces(memo: SnapshotMemo, service: ServiceView, flavour: Flavour, trustDomain: string): ServicePieces {
    const key = piecesKey(service, flavour);
    const hash = this.serviceHash(memo, service, flavour, trustDomain);
    const cached = this.pieces.get(key);
    if (cached && cached.hash === hash) return cached.pieces;
    const fresh = buildServicePieces(service, flavour, trustDomain);
    const pieces = cached ? reuseUnchangedPieces(fresh, cached.pieces) : fresh;
    this.pieces.set(key, { hash, pieces });
    return pieces;
  }

  private generate(memo: SnapshotMemo, workload: Workload, flavour: Flavour): Translation {
    const { index } = memo;
    const mesh = index.input.policies.mesh;
    const out = new ResourceCollector();
    const policies = index.authorizationPolicies(workload.namespace, workload.service);
    const rbacContext: RbacContext = {
      trustDomain: mesh.trustDomain,
      serviceAccountsOf: (namespace, service) => index.service(namespace, service).serviceAccounts,
    };
    const layer: RbacLayer = flavour === 'grpc' || isHttpProtocol(workload.protocol) ? 'http' : 'network';
    const rbac = planRbac(policies, rbacContext, layer);
    out.notes.push(...rbac.notes);

    if (flavour === 'envoy') {
      out.add(TypeUrl.Listener, inboundListener(workload, mesh, rbac));
      out.add(TypeUrl.Cluster, inboundCluster(workload));
    } else {
      if (isIP(workload.address) === 0) {
        out.notes.push({
          code: 'SERVER_ADDRESS_NOT_IP',
          message: `registered address ${workload.address} is not an IP; an xDS-enabled gRPC server must bind a literal IP`,
        });
      }
      out.add(TypeUrl.Listener, serverListener(workload, mesh.mtls, rbac));
    }

    for (const upstream of index.upstreamsOf(workload)) {
      const service = index.service(upstream.namespace, upstream.service);
      if (flavour === 'grpc' && !isHttpProtocol(service.protocol)) {
        out.notes.push({
          code: 'UPSTREAM_PROTOCOL_UNSUPPORTED',
          message: `${service.name}.${service.namespace} is a TCP service; proxyless gRPC cannot call it`,
        });
        continue;
      }
      const pieces = this.servicePieces(memo, service, flavour, mesh.trustDomain);
      out.addPieces(pieces);
      if (flavour === 'envoy') {
        out.add(TypeUrl.Listener, outboundListener(upstream, service, pieces.targets));
      } else {
        for (const name of grpcClientListenerNames(service.name, service.namespace, workload.namespace)) {
          out.add(TypeUrl.Listener, clientListener(name, outboundRouteName(service.name, service.namespace)));
        }
      }
    }
    return out.finish();
  }
}

function proxyId(workloadId: string, flavour: Flavour): string {
  return `${flavour}|${workloadId}`;
}

function piecesKey(service: ServiceView, flavour: Flavour): string {
  return `${flavour}|${service.namespace}/${service.name}`;
}

/** Service accounts of every service named as a caller: RBAC principals depend on them. */
function callerServiceAccounts(policies: readonly NamedAuthorizationPolicy[], index: MeshIndex): Record<string, readonly string[]> {
  const accounts: Record<string, readonly string[]> = {};
  for (const policy of policies) {
    for (const rule of policy.spec.rules) {
      for (const caller of rule.from ?? []) {
        if (!('service' in caller)) continue;
        const namespace = caller.namespace ?? policy.metadata.namespace;
        accounts[`${namespace}/${caller.service}`] = index.service(namespace, caller.service).serviceAccounts;
      }
    }
  }
  return accounts;
}

function uniqueBy<T>(items: readonly T[], keyOf: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(keyOf(item))) seen.set(keyOf(item), item);
  return [...seen.values()];
}

/** Gathers one proxy's resources by type and name, then freezes them. */
class ResourceCollector {
  readonly notes: TranslationNote[] = [];
  private readonly byType = new Map<string, Map<string, Resource>>(RESOURCE_TYPES.map((t) => [t, new Map()]));

  add(typeUrl: string, resource: Resource): void {
    const name = String(resource.name ?? resource.cluster_name);
    this.byType.get(typeUrl)?.set(name, resource);
  }

  addPieces(pieces: ServicePieces): void {
    if (pieces.routeConfig) this.add(TypeUrl.RouteConfiguration, pieces.routeConfig);
    for (const cluster of pieces.clusters.values()) this.add(TypeUrl.Cluster, cluster);
    for (const cla of pieces.loadAssignments.values()) this.add(TypeUrl.ClusterLoadAssignment, cla);
    for (const note of pieces.notes) if (!this.notes.includes(note)) this.notes.push(note);
  }

  finish(): Translation {
    const resources = new Map([...this.byType].map(([type, byName]) => [type, sortedByName(byName)]));
    return deepFreeze({ resources, notes: this.notes });
  }
}

function sortedByName(byName: ReadonlyMap<string, Resource>): Map<string, Resource> {
  return new Map([...byName].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The previous object when its content equals the fresh one's, else the fresh one. */
function sameIfEqual<T>(fresh: T, old: T | undefined): T {
  return old !== undefined && old !== fresh && canonicalJson(old) === canonicalJson(fresh) ? old : fresh;
}

function reuseUnchangedPieces(fresh: ServicePieces, previous: ServicePieces): ServicePieces {
  const reuse = (now: ReadonlyMap<string, Resource>, before: ReadonlyMap<string, Resource>): Map<string, Resource> =>
    new Map([...now].map(([name, resource]) => [name, sameIfEqual(resource, before.get(name))]));
  return deepFreeze({
    ...fresh,
    routeConfig: fresh.routeConfig && sameIfEqual(fresh.routeConfig, previous.routeConfig),
    clusters: reuse(fresh.clusters, previous.clusters),
    loadAssignments: reuse(fresh.loadAssignments, previous.loadAssignments),
  });
}

/** Keeps the previous generation's object for every resource whose content did not change. */
function reuseUnchanged(fresh: Translation, previous: Translation): Translation {
  const resources = new Map<string, Map<string, Resource>>();
  for (const [type, byName] of fresh.resources) {
    const before = previous.resources.get(type);
    const merged = new Map<string, Resource>();
    for (const [name, resource] of byName) {
      merged.set(name, sameIfEqual(resource, before?.get(name)));
    }
    resources.set(type, merged);
  }
  return deepFreeze({ resources, notes: fresh.notes });
}
