/**
 * A raw xDS test client: grpc-js generic client + protobufjs encoding of the discovery messages.
 * It sends whatever it is told (including malformed requests) and lets tests await responses,
 * assert silence, and decode resources. It deliberately implements none of a real client's
 * protocol logic: tests spell out every request.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';

const DISCOVERY = 'envoy.service.discovery.v3';

/** How long to wait for something that should happen; generous because other suites share the CPUs. */
export const DEFAULT_TIMEOUT_MS = 5000;

/** xDS services by short name, with their fully qualified gRPC service name and method names. */
export const XDS_SERVICES = {
  ads: { service: `${DISCOVERY}.AggregatedDiscoveryService`, sotw: 'StreamAggregatedResources', delta: 'DeltaAggregatedResources', fetch: undefined },
  lds: { service: 'envoy.service.listener.v3.ListenerDiscoveryService', sotw: 'StreamListeners', delta: 'DeltaListeners', fetch: 'FetchListeners' },
  rds: { service: 'envoy.service.route.v3.RouteDiscoveryService', sotw: 'StreamRoutes', delta: 'DeltaRoutes', fetch: 'FetchRoutes' },
  cds: { service: 'envoy.service.cluster.v3.ClusterDiscoveryService', sotw: 'StreamClusters', delta: 'DeltaClusters', fetch: 'FetchClusters' },
  eds: { service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', sotw: 'StreamEndpoints', delta: 'DeltaEndpoints', fetch: 'FetchEndpoints' },
  sds: { service: 'envoy.service.secret.v3.SecretDiscoveryService', sotw: 'StreamSecrets', delta: 'DeltaSecrets', fetch: 'FetchSecrets' },
} as const;
export type XdsServiceName = keyof typeof XDS_SERVICES;

const CSDS_SERVICE = 'envoy.service.status.v3.ClientStatusDiscoveryService';

export interface NodeInit {
  id?: string;
  cluster?: string;
  locality?: { region?: string; zone?: string; sub_zone?: string };
  user_agent_name?: string;
  user_agent_version?: string;
  client_features?: string[];
}

export interface StatusInit {
  code?: number;
  message?: string;
}

export interface DiscoveryRequestInit {
  version_info?: string;
  node?: NodeInit;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: StatusInit;
}

export interface DeltaDiscoveryRequestInit {
  node?: NodeInit;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: StatusInit;
}

export interface AnyMessage {
  type_url: string;
  value: Uint8Array;
}

export interface DiscoveryResponse {
  version_info: string;
  resources: AnyMessage[];
  canary: boolean;
  type_url: string;
  nonce: string;
  control_plane?: { identifier: string };
}

export interface DeltaResource {
  name: string;
  aliases: string[];
  version: string;
  resource?: AnyMessage;
  ttl?: { seconds: string; nanos: number };
}

export interface DeltaDiscoveryResponse {
  system_version_info: string;
  resources: DeltaResource[];
  type_url: string;
  removed_resources: string[];
  nonce: string;
  control_plane?: { identifier: string };
}

export type Decoded = Record<string, unknown>;

export interface ClientStatusResponse {
  type_url?: undefined;
  config: Decoded[];
}

const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, arrays: true };

/** Encodes and decodes discovery messages and resources with one protobufjs Root. */
export class XdsCodec {
  readonly discoveryRequest: protobuf.Type;
  readonly discoveryResponse: protobuf.Type;
  readonly deltaRequest: protobuf.Type;
  readonly deltaResponse: protobuf.Type;
  readonly clientStatusRequest: protobuf.Type;
  readonly clientStatusResponse: protobuf.Type;

  constructor(readonly root: protobuf.Root) {
    this.discoveryRequest = root.lookupType(`${DISCOVERY}.DiscoveryRequest`);
    this.discoveryResponse = root.lookupType(`${DISCOVERY}.DiscoveryResponse`);
    this.deltaRequest = root.lookupType(`${DISCOVERY}.DeltaDiscoveryRequest`);
    this.deltaResponse = root.lookupType(`${DISCOVERY}.DeltaDiscoveryResponse`);
    this.clientStatusRequest = root.lookupType('envoy.service.status.v3.ClientStatusRequest');
    this.clientStatusResponse = root.lookupType('envoy.service.status.v3.ClientStatusResponse');
  }

  encode(type: protobuf.Type, message: object): Buffer {
    const err = type.verify(message);
    if (err) throw new Error(`${type.fullName}: ${err}`);
    return Buffer.from(type.encode(type.fromObject(message)).finish());
  }

  decode<T>(type: protobuf.Type, bytes: Uint8Array): T {
    return type.toObject(type.decode(bytes), TO_OBJECT) as T;
  }

  /** Decodes an `Any` into its message as a plain object (nested Anys as `{"@type": ...}`). */
  decodeAny(any: AnyMessage): Decoded {
    const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
    const type = this.root.lookupType(typeName);
    return type.toObject(type.decode(any.value), { ...TO_OBJECT, json: true }) as Decoded;
  }
}

interface Waiter<T> {
  matches: (value: T) => boolean;
  resolve: (value: T) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

/** The end of a stream: the status grpc-js reported, or the error it emitted. */
export interface StreamEnd {
  code: grpc.status;
  details: string;
}

/**
 * One bidirectional discovery stream. Responses queue until read; `next()` takes the oldest,
 * `nextOfType()` the oldest of one type (leaving the others queued).
 */
export class XdsStream<Req extends object, Res extends { type_url?: string }> {
  private readonly queue: Res[] = [];
  private readonly waiters: Waiter<Res>[] = [];
  private endStatus: StreamEnd | undefined;
  private readonly endWaiters: ((end: StreamEnd) => void)[] = [];
  private readonly lastByType = new Map<string, Req>();
  /** Every response ever received on this stream, in order. */
  readonly received: Res[] = [];

  constructor(
    private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>,
    private readonly requestType: protobuf.Type,
    private readonly responseType: protobuf.Type,
    private readonly codec: XdsCodec,
  ) {
    call.on('data', (bytes: Buffer) => this.push(codec.decode<Res>(responseType, bytes)));
    call.on('status', (s: grpc.StatusObject) => this.finish({ code: s.code, details: s.details }));
    call.on('error', (e: grpc.ServiceError) => this.finish({ code: e.code ?? grpc.status.UNKNOWN, details: e.details ?? e.message }));
  }

  private push(res: Res): void {
    this.received.push(res);
    const i = this.waiters.findIndex((w) => w.matches(res));
    if (i < 0) {
      this.queue.push(res);
      return;
    }
    const [waiter] = this.waiters.splice(i, 1);
    clearTimeout(waiter.timer);
    waiter.resolve(res);
  }

  private finish(end: StreamEnd): void {
    if (this.endStatus) return;
    this.endStatus = end;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`stream ended (${grpc.status[end.code]}: ${end.details}) while waiting for a response`));
    }
    for (const fn of this.endWaiters.splice(0)) fn(end);
  }

  /** Sends a request; the object is verified and encoded with protobufjs. */
  send(request: Req): this {
    this.call.write(this.codec.encode(this.requestType, request));
    this.lastByType.set((request as { type_url?: string }).type_url ?? '', request);
    return this;
  }

  /** The last request sent for a type (or with an empty type_url), to repeat its subscription. */
  lastSent(typeUrl: string): Req | undefined {
    return this.lastByType.get(typeUrl) ?? this.lastByType.get('');
  }

  /** Sends arbitrary bytes as one gRPC message (for malformed-input tests). */
  sendRaw(bytes: Uint8Array): this {
    this.call.write(Buffer.from(bytes));
    return this;
  }

  /** The next response; rejects if none arrives within `timeoutMs`. */
  next(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Res> {
    return this.nextWhere(() => true, timeoutMs, 'a response');
  }

  /** The next response of one type; responses of other types stay queued. */
  nextOfType(typeUrl: string, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Res> {
    return this.nextWhere((r) => r.type_url === typeUrl, timeoutMs, typeUrl);
  }

  nextWhere(matches: (res: Res) => boolean, timeoutMs = DEFAULT_TIMEOUT_MS, what = 'a matching response'): Promise<Res> {
    const i = this.queue.findIndex(matches);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.endStatus) {
      return Promise.reject(new Error(`stream already ended (${grpc.status[this.endStatus.code]}: ${this.endStatus.details})`));
    }
    return new Promise<Res>((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiters.findIndex((w) => w.timer === timer);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ matches, resolve, reject, timer });
    });
  }

  /** Every response that arrives within `ms` (plus any already queued). */
  async drain(ms = 300): Promise<Res[]> {
    const out: Res[] = this.queue.splice(0);
    const deadline = Date.now() + ms;
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) return out;
      const res = await this.next(left).catch(() => undefined);
      if (res === undefined) return out;
      out.push(res);
    }
  }

  /** Resolves if no response arrives within `ms`; rejects with the response otherwise. */
  async expectNone(ms = 300): Promise<void> {
    const got = await this.next(ms).catch(() => undefined);
    if (got !== undefined) throw new Error(`expected no response within ${ms} ms, got ${JSON.stringify(summarize(got))}`);
  }

  /** Resolves if no response of `typeUrl` arrives within `ms`; other types stay queued. */
  async expectNoneOfType(typeUrl: string, ms = 300): Promise<void> {
    const got = await this.nextOfType(typeUrl, ms).catch(() => undefined);
    if (got !== undefined) throw new Error(`expected no ${typeUrl} response within ${ms} ms, got ${JSON.stringify(summarize(got))}`);
  }

  /** Responses already received and not yet taken. */
  pending(): number {
    return this.queue.length;
  }

  /** Resolves with the stream's final status; rejects if it is still open after `timeoutMs`. */
  ended(timeoutMs = DEFAULT_TIMEOUT_MS): Promise<StreamEnd> {
    if (this.endStatus) return Promise.resolve(this.endStatus);
    return new Promise<StreamEnd>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`stream still open after ${timeoutMs} ms`)), timeoutMs);
      this.endWaiters.push((end) => {
        clearTimeout(timer);
        resolve(end);
      });
    });
  }

  get isEnded(): boolean {
    return this.endStatus !== undefined;
  }

  /** Stops reading: HTTP/2 flow control then pushes back on the server. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  /** Half-closes and cancels the stream. */
  close(): void {
    if (this.endStatus) return;
    this.call.end();
    this.call.cancel();
  }
}

export type SotwStream = XdsStream<DiscoveryRequestInit, DiscoveryResponse>;
export type DeltaStream = XdsStream<DeltaDiscoveryRequestInit, DeltaDiscoveryResponse>;

function summarize(res: unknown): unknown {
  if (typeof res !== 'object' || res === null) return res;
  const r = res as Partial<DiscoveryResponse & DeltaDiscoveryResponse>;
  return {
    type_url: r.type_url,
    version_info: r.version_info,
    nonce: r.nonce,
    resources: r.resources?.length,
    removed: r.removed_resources,
  };
}

const identity = (b: Buffer): Buffer => b;

function methodDefinitions(): grpc.ServiceDefinition {
  const defs: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
  const add = (service: string, method: string, requestStream: boolean, responseStream: boolean): void => {
    defs[`${service}/${method}`] = {
      path: `/${service}/${method}`,
      requestStream,
      responseStream,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    };
  };
  for (const s of Object.values(XDS_SERVICES)) {
    add(s.service, s.sotw, true, true);
    add(s.service, s.delta, true, true);
    if (s.fetch) add(s.service, s.fetch, false, false);
  }
  add(CSDS_SERVICE, 'StreamClientStatus', true, true);
  add(CSDS_SERVICE, 'FetchClientStatus', false, false);
  return defs;
}

export interface XdsTestClientOptions {
  /** grpc channel options; distinct options give a distinct HTTP/2 connection. */
  channelOptions?: grpc.ChannelOptions;
  /** Metadata sent on every stream (e.g. `authorization`). */
  metadata?: Record<string, string>;
  /** Metadata sent on CSDS calls instead of `metadata` (the harness's operator token); null sends none. */
  statusMetadata?: Record<string, string> | null;
  /** Channel credentials; insecure by default. */
  credentials?: grpc.ChannelCredentials;
}

/** A client of every xDS service the server offers, over one channel. */
export class XdsTestClient {
  private readonly client: grpc.Client;
  private readonly streams: { close(): void }[] = [];

  constructor(
    address: string,
    readonly codec: XdsCodec,
    private readonly options: XdsTestClientOptions = {},
  ) {
    const Ctor = grpc.makeGenericClientConstructor(methodDefinitions(), 'AccordXdsTestClient');
    this.client = new Ctor(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions ?? {});
  }

  private metadata(extra?: Record<string, string>): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...this.options.metadata, ...extra })) md.set(k, v);
    return md;
  }

  private statusMetadata(): grpc.Metadata {
    if (this.options.statusMetadata === undefined) return this.metadata();
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.options.statusMetadata ?? {})) md.set(k, v);
    return md;
  }

  private open<Req extends object, Res extends { type_url?: string }>(
    path: string,
    req: protobuf.Type,
    res: protobuf.Type,
    metadata?: Record<string, string>,
    md: grpc.Metadata = this.metadata(metadata),
  ): XdsStream<Req, Res> {
    const call = this.client.makeBidiStreamRequest<Buffer, Buffer>(path, identity, identity, md);
    const stream = new XdsStream<Req, Res>(call, req, res, this.codec);
    this.streams.push(stream);
    return stream;
  }

  /** A state-of-the-world stream on ADS (default) or a per-type service. */
  sotw(service: XdsServiceName = 'ads', metadata?: Record<string, string>): SotwStream {
    const s = XDS_SERVICES[service];
    return this.open(`/${s.service}/${s.sotw}`, this.codec.discoveryRequest, this.codec.discoveryResponse, metadata);
  }

  /** An incremental (Delta) stream on ADS (default) or a per-type service. */
  delta(service: XdsServiceName = 'ads', metadata?: Record<string, string>): DeltaStream {
    const s = XDS_SERVICES[service];
    return this.open(`/${s.service}/${s.delta}`, this.codec.deltaRequest, this.codec.deltaResponse, metadata);
  }

  /** A CSDS stream. Requests and responses are plain protobufjs objects. */
  csdsStream(): XdsStream<object, ClientStatusResponse> {
    return this.open(`/${CSDS_SERVICE}/StreamClientStatus`, this.codec.clientStatusRequest, this.codec.clientStatusResponse, undefined, this.statusMetadata());
  }

  /** The unary Fetch* method of a per-type service. */
  fetch(service: Exclude<XdsServiceName, 'ads'>, request: DiscoveryRequestInit, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<DiscoveryResponse> {
    const s = XDS_SERVICES[service];
    return this.unary(`/${s.service}/${s.fetch}`, this.codec.encode(this.codec.discoveryRequest, request), timeoutMs).then((b) =>
      this.codec.decode<DiscoveryResponse>(this.codec.discoveryResponse, b),
    );
  }

  /** CSDS FetchClientStatus, decoded with Any fields expanded (`{"@type": ...}`). */
  fetchClientStatus(request: object = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<ClientStatusResponse> {
    const type = this.codec.clientStatusResponse;
    return this.fetchClientStatusBytes(request, timeoutMs).then((b) => type.toObject(type.decode(b), { ...TO_OBJECT, json: true }) as ClientStatusResponse);
  }

  /** CSDS FetchClientStatus, the answer's bytes as sent. */
  fetchClientStatusBytes(request: object = {}, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Buffer> {
    return this.unary(`/${CSDS_SERVICE}/FetchClientStatus`, this.codec.encode(this.codec.clientStatusRequest, request), timeoutMs, this.statusMetadata());
  }

  private unary(path: string, body: Buffer, timeoutMs: number, metadata: grpc.Metadata = this.metadata()): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      this.client.makeUnaryRequest<Buffer, Buffer>(
        path,
        identity,
        identity,
        body,
        metadata,
        { deadline: Date.now() + timeoutMs },
        (err, value) => (err ? reject(err) : value ? resolve(value) : reject(new Error(`${path}: empty reply`))),
      );
    });
  }

  close(): void {
    for (const s of this.streams) s.close();
    this.client.close();
  }
}

/**
 * ACKs a SotW response. A SotW request always carries the whole subscription, so unless
 * `resourceNames` changes it, the names of the last request of that type are repeated.
 */
export function ack(stream: SotwStream, res: DiscoveryResponse, resourceNames?: string[]): void {
  stream.send(ackOf(res, resourceNames ?? stream.lastSent(res.type_url)?.resource_names ?? []));
}

/** NACKs a SotW response, repeating the subscription like `ack`. */
export function nack(stream: SotwStream, res: DiscoveryResponse, acceptedVersion: string, message: string, resourceNames?: string[]): void {
  stream.send(nackOf(res, acceptedVersion, message, resourceNames ?? stream.lastSent(res.type_url)?.resource_names ?? []));
}

/** The request that ACKs a SotW response with exactly these names. */
export function ackOf(res: DiscoveryResponse, resourceNames: string[]): DiscoveryRequestInit {
  return { type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: resourceNames };
}

/** The request that NACKs a SotW response; `acceptedVersion` is the last version the client accepted. */
export function nackOf(res: DiscoveryResponse, acceptedVersion: string, message: string, resourceNames: string[]): DiscoveryRequestInit {
  return {
    type_url: res.type_url,
    version_info: acceptedVersion,
    response_nonce: res.nonce,
    error_detail: { code: grpc.status.INTERNAL, message },
    resource_names: resourceNames,
  };
}

/** Names of the resources in a SotW response (decoding each Any's `name`). */
export function sotwNames(codec: XdsCodec, res: DiscoveryResponse): string[] {
  return res.resources.map((any) => resourceName(codec.decodeAny(any)));
}

/** Names in a Delta response's `resources`. */
export function deltaNames(res: DeltaDiscoveryResponse): string[] {
  return res.resources.map((r) => r.name);
}

/** The name of a decoded resource: `name`, or `cluster_name` for a ClusterLoadAssignment. */
export function resourceName(decoded: Decoded): string {
  const n = decoded.name ?? decoded.cluster_name;
  if (typeof n !== 'string') throw new Error(`resource has no name: ${JSON.stringify(decoded).slice(0, 200)}`);
  return n;
}
