/**
 * The contract between the xDS transport and everything that produces configuration.
 * The transport knows nothing about meshes: it is handed typed, named, already-encoded resources
 * per proxy and is told when they change (go-control-plane's ConfigWatcher is the model).
 */
import type { Metadata } from '@grpc/grpc-js';

export const TypeUrl = {
  Listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  Secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;
export type KnownTypeUrl = (typeof TypeUrl)[keyof typeof TypeUrl];

/** A resource encoded once per content change. Immutable: never mutate a cached resource. */
export interface EncodedResource {
  readonly name: string;
  readonly typeUrl: string;
  /** Content-derived (hash of `any`): identical across replicas and restarts. */
  readonly version: string;
  /** The serialized `google.protobuf.Any` wrapping the resource. */
  readonly any: Uint8Array;
  /**
   * An EDS cluster only: the ClusterLoadAssignment it waits for after each add or update
   * (`eds_cluster_config.service_name`, else the cluster's name).
   */
  readonly endpointsName?: string;
}

/** What the stream's first request told us about the proxy. */
export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  readonly userAgentName: string;
  readonly userAgentVersion: string;
  readonly locality: { readonly region?: string; readonly zone?: string; readonly subZone?: string };
  readonly clientFeatures: readonly string[];
  /** `node.metadata` as plain JSON. */
  readonly metadata: Readonly<Record<string, unknown>>;
}

export interface StreamContext {
  readonly node: NodeInfo;
  /** `ip:port` of the peer as grpc-js reports it. */
  readonly peer: string;
  /** The call's gRPC metadata (the `authorization` header carries the workload token). */
  readonly metadata: Metadata;
}

/** Who calls a method that is not a discovery stream (CSDS), for the status-reader check. */
export interface Caller {
  /** `ip:port` of the peer as grpc-js reports it. */
  readonly peer: string;
  readonly metadata: Metadata;
}

/** Why a caller may not read client status; UNAUTHENTICATED without credentials, PERMISSION_DENIED with wrong ones. */
export interface CallerRefusal {
  readonly code: 'UNAUTHENTICATED' | 'PERMISSION_DENIED';
  readonly reason: string;
}

/**
 * Decides who may read client status (CSDS): `undefined` lets the caller in. The transport has no
 * notion of operators; the composition root supplies this check.
 */
export type StatusReaderCheck = (caller: Caller) => CallerRefusal | undefined;

/** Thrown by `ConfigSource.open` to refuse a stream; mapped to PERMISSION_DENIED or UNAUTHENTICATED. */
export class StreamRefusedError extends Error {
  constructor(
    readonly code: 'PERMISSION_DENIED' | 'UNAUTHENTICATED',
    message: string,
  ) {
    super(message);
    this.name = 'StreamRefusedError';
  }
}

/**
 * Ends one stream from the source's side, with a status and a reason the proxy sees (e.g. its
 * credentials were revoked while it was open). The transport does not decide which streams.
 */
export type EndStream = (code: 'PERMISSION_DENIED' | 'UNAUTHENTICATED', reason: string) => void;

/** One connected proxy's view of the configuration. */
export interface ProxyView {
  /**
   * Every resource of a type that exists for this proxy, by name; `undefined` while this proxy's
   * config of that type is not ready (the transport then sends nothing rather than an empty
   * LDS/CDS). A returned map is never modified afterwards (a change returns a new map): streams
   * keep a reference to it as what they sent, and proxies with the same config share it.
   */
  resources(typeUrl: string): ReadonlyMap<string, EncodedResource> | undefined;
  /** `undefined` if the proxy may read the named resource; otherwise why not (PERMISSION_DENIED). */
  authorize(typeUrl: string, name: string): string | undefined;
  /** The proxy now subscribes to these names of a type (lets the source issue certificates on demand). */
  interest(typeUrl: string, names: ReadonlySet<string>): void;
  /**
   * The proxy ACKed these resource versions (name, version). Read them during the call, if at
   * all: the transport lists them on demand, so a view that ignores a type costs the ACK nothing.
   */
  acked(typeUrl: string, resources: Iterable<readonly [string, string]>): void;
  /** The proxy NACKed a response. */
  nacked(typeUrl: string, errorDetail: string): void;
  /**
   * Call `onChange` with the changed type URLs whenever resources change; call `end` (at most once,
   * not from within another method of this view) to end the stream. Returns an unsubscribe.
   */
  watch(onChange: (typeUrls: ReadonlySet<string>) => void, end?: EndStream): () => void;
  /** The stream ended. */
  close(): void;
}

export interface ConfigSource {
  /** Called once per stream when its node is known. Throw StreamRefusedError to refuse it. */
  open(context: StreamContext): ProxyView | Promise<ProxyView>;
}
