import { isIP } from 'node:net';
import type { Upstream, Workload } from '../core/workload.js';
import { TypeUrl } from '../xds/contract.js';
import { deepFreeze } from '../core/deep-freeze.js';
import { isHttpProtocol } from './configurers/http.js';
import { planRbac, type RbacContext, type RbacLayer } from './configurers/rbac.js';
import { inboundCluster } from './envoy/clusters.js';
import { gatewayCertificateSecrets, gatewayListeners } from './envoy/gateway.js';
import { inboundListener, outboundListener } from './envoy/listeners.js';
import { clientListener, serverListener } from './grpc/listeners.js';
import { compareStrings } from './hash.js';
import type { MeshIndex, ServiceView } from './model.js';
import { grpcClientListenerNames, outboundRouteName } from './names.js';
import type { ServicePieces } from './service-pieces.js';
import type { Flavour, Resource, Translation, TranslationNote } from './types.js';

const RESOURCE_TYPES = [TypeUrl.Listener, TypeUrl.RouteConfiguration, TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment] as const;

/** Where a proxy's destination-side resources come from (the translator's caches). */
export interface Destinations {
  /** What the destination shares with every caller of this flavour and locality plan. */
  pieces(service: ServiceView): ServicePieces;
  /**
   * An Envoy caller's listener for the destination on a local port: it depends only on the port and
   * the pieces, so callers of the same service on the same port can share it.
   */
  outboundListener(upstream: Upstream, service: ServiceView, pieces: ServicePieces): Resource;
}

/** Builds the Envoy outbound listener without sharing (`Destinations.outboundListener` may memoise this). */
export function buildOutboundListener(upstream: Upstream, service: ServiceView, pieces: ServicePieces): Resource {
  return deepFreeze(outboundListener(upstream, service, pieces.targets));
}

/**
 * One proxy's resources: its own inbound side, plus for every upstream the listener(s) to reach
 * it and the pieces its destination service shares with all callers (`destinations`).
 * Everything read here must be covered by the proxy's keys (proxy-inputs.ts).
 */
export function assembleProxy(index: MeshIndex, workload: Workload, flavour: Flavour, destinations: Destinations): Translation {
  const piecesOf = (service: ServiceView): ServicePieces => destinations.pieces(service);
  const mesh = index.input.policies.mesh;
  const out = new ResourceCollector();
  const rbacContext: RbacContext = {
    trustDomain: mesh.trustDomain,
    serviceAccountsOf: (namespace, service) => index.service(namespace, service).serviceAccounts,
  };
  const layer: RbacLayer = flavour === 'grpc' || isHttpProtocol(workload.protocol) ? 'http' : 'network';
  const rbac = planRbac(index.authorizationPolicies(workload.namespace, workload.service), rbacContext, layer);
  out.notes.push(...rbac.notes);

  if (flavour === 'envoy' && workload.gateway !== undefined) {
    // An ingress gateway has no application behind it: its listeners are its Gateway document's.
    const gateway = index.gatewayOf(workload);
    if (gateway === undefined) {
      out.notes.push({
        code: 'GATEWAY_NOT_CONFIGURED',
        message: `no Gateway document "${workload.namespace}/${workload.service}"; the gateway serves nothing until one is applied`,
      });
    } else {
      const backends = (namespace: string, name: string) => {
        const service = index.service(namespace, name);
        if (service.workloads.length === 0) return undefined;
        const pieces = piecesOf(service);
        // The gateway routes itself: the service's clusters, not its callers' route table.
        out.addPieces(pieces, { routeConfig: false });
        return { targets: pieces.targets, retryPolicy: pieces.retryPolicy };
      };
      for (const listener of gatewayListeners(workload, gateway, index.routesOf(gateway), backends)) out.add(TypeUrl.Listener, listener);
      for (const secret of gatewayCertificateSecrets(workload.gateway, gateway)) out.add(TypeUrl.Secret, secret);
    }
  } else if (flavour === 'envoy') {
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
    const leftOut = upstreamLeftOut(workload, flavour, upstream, service);
    if (leftOut) {
      out.notes.push(leftOut);
      continue;
    }
    const pieces = piecesOf(service);
    out.addPieces(pieces);
    if (flavour === 'envoy') {
      out.add(TypeUrl.Listener, destinations.outboundListener(upstream, service, pieces));
    } else {
      for (const name of grpcClientListenerNames(service.name, service.namespace, workload.namespace)) {
        out.add(TypeUrl.Listener, clientListener(name, outboundRouteName(service.name, service.namespace)));
      }
    }
  }
  return out.finish();
}

/** Why an upstream gets no listener or pieces on this proxy, or undefined when it does. */
export function upstreamLeftOut(workload: Workload, flavour: Flavour, upstream: Upstream, service: ServiceView): TranslationNote | undefined {
  if (flavour === 'envoy' && (upstream.localPort === workload.port || upstream.localPort === workload.meshPort)) {
    // The sidecar could not bind it (or would steal the app's port).
    return {
      code: 'LOCAL_PORT_CONFLICT',
      message: `upstream ${service.name}.${service.namespace} wants local port ${upstream.localPort}, which is the workload's own port`,
    };
  }
  if (flavour === 'grpc' && !isHttpProtocol(service.protocol)) {
    return { code: 'UPSTREAM_PROTOCOL_UNSUPPORTED', message: `${service.name}.${service.namespace} is a TCP service; proxyless gRPC cannot call it` };
  }
  return undefined;
}

/** Gathers one proxy's resources by type and name (deduplicated), then sorts and freezes them. */
class ResourceCollector {
  readonly notes: TranslationNote[] = [];
  private readonly byType = new Map<string, Map<string, Resource>>(RESOURCE_TYPES.map((t) => [t, new Map()]));

  add(typeUrl: string, resource: Resource): void {
    const name = String(resource.name ?? resource.cluster_name);
    // Secrets only for gateways (their user certificates, by file name); other proxies have no such type.
    if (typeUrl === TypeUrl.Secret && !this.byType.has(typeUrl)) this.byType.set(typeUrl, new Map());
    this.byType.get(typeUrl)?.set(name, resource);
  }

  addPieces(pieces: ServicePieces, options: { readonly routeConfig: boolean } = { routeConfig: true }): void {
    if (pieces.routeConfig && options.routeConfig) this.add(TypeUrl.RouteConfiguration, pieces.routeConfig);
    for (const cluster of pieces.clusters.values()) this.add(TypeUrl.Cluster, cluster);
    for (const cla of pieces.loadAssignments.values()) this.add(TypeUrl.ClusterLoadAssignment, cla);
    for (const note of pieces.notes) if (!this.notes.includes(note)) this.notes.push(note);
  }

  finish(): Translation {
    const resources = new Map(
      [...this.byType].map(([type, byName]) => [type, new Map([...byName].sort(([a], [b]) => compareStrings(a, b)))]),
    );
    return deepFreeze({ resources, notes: this.notes });
  }
}
