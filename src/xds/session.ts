import { status as GrpcStatus, type Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { clip } from '../observability/clip.js';
import { StreamRefusedError, TypeUrl, type ConfigSource, type EncodedResource, type NodeInfo, type ProxyView } from './contract.js';
import type { XdsMetrics, StreamMode } from './metrics.js';
import { Outbox, type FlushScheduler } from './outbox.js';
import { BadRequestError, type RequestDecoder } from './requests.js';
import type { SharedResponses } from './shared-responses.js';
import type { ProxyStatus, ProxySummary, TypeStatus, TypeSummary } from './status.js';
import { adsRank } from './type-order.js';

/** The transport side of one stream, as the session needs it (adapted from a grpc-js call). */
export interface XdsCall {
  readonly peer: string;
  readonly metadata: Metadata;
  write(message: Buffer, written: () => void): boolean;
  /** Ends the stream with a status; OK ends it normally. */
  end(code: GrpcStatus, details: string): void;
  /**
   * The config source accepted the stream for this node; answers why the stream may not go on
   * (e.g. the workload has too many streams), or undefined.
   */
  authenticated(nodeId: string): { readonly reason: string; readonly message: string } | undefined;
}

/** Everything a session needs from the server, shared by all sessions. */
export interface SessionEnvironment {
  readonly source: ConfigSource;
  readonly logger: Logger;
  readonly metrics: XdsMetrics;
  readonly decoder: RequestDecoder;
  readonly responses: SharedResponses;
  readonly now: () => number;
  readonly scheduler: FlushScheduler;
  /** A fresh nonce prefix per stream, unique across streams, restarts and replicas. */
  nextStreamId(): string;
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(Object.values(TypeUrl));

/** Requests that arrive while `ConfigSource.open` is still running are queued, up to this many. */
const MAX_QUEUED_BEFORE_OPEN = 64;
/** NACKs of one stream that are each logged; after that, every hundredth. */
const NACKS_LOGGED_IN_FULL = 10;
/** Distinct type URLs one stream may subscribe to (bounds per-stream memory on ADS). */
const MAX_TYPES_PER_STREAM = 32;

export interface SessionOptions {
  /** 'ads', or the per-type service's type URL. */
  readonly service: string;
  /** The single type of a per-type service; undefined on ADS. */
  readonly fixedType: string | undefined;
}

/**
 * What SotW and Delta streams share: the node from the first request, opening the proxy view,
 * change notifications, flow-controlled sending in ADS order, ending the stream, and status.
 */
export abstract class StreamSession<Request extends { readonly node: NodeInfo | undefined; readonly typeUrl: string }, TypeState> {
  abstract readonly mode: StreamMode;
  /** Per-type sub-stream state (the protocol's per-type ordering and nonces), by type URL. */
  protected readonly types = new Map<string, TypeState>();
  protected view: ProxyView | undefined;
  protected node: NodeInfo | undefined;
  protected readonly outbox: Outbox;
  private childLogger: Logger | undefined;
  readonly connectedAt: Date;
  private readonly streamId: string;
  private nonceCounter = 0;
  private queued: Request[] | undefined;
  private unwatch: (() => void) | undefined;
  private ended = false;
  private warnedTypes: Set<string> | undefined;
  private nacks = 0;

  constructor(
    protected readonly env: SessionEnvironment,
    protected readonly call: XdsCall,
    protected readonly options: SessionOptions,
  ) {
    this.connectedAt = new Date(env.now());
    this.streamId = env.nextStreamId();
    this.outbox = new Outbox(
      env.scheduler,
      { write: (message, written) => this.call.write(message, written) },
      (typeUrl) => this.buildGuarded(typeUrl),
      adsRank,
    );
  }

  /** Created on first use: most streams never log, and a child logger per stream costs memory. */
  protected get log(): Logger {
    this.childLogger ??= this.env.logger.child({ peer: this.call.peer, service: this.options.service });
    return this.childLogger;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** Bytes of one request from the client. */
  receive(bytes: Buffer): void {
    if (this.ended) return;
    let request: Request;
    try {
      request = this.decode(bytes, this.node === undefined);
      request = this.withType(request);
    } catch (error) {
      this.failWith(error);
      return;
    }
    if (this.view) {
      this.handleGuarded(request);
      return;
    }
    if (this.queued) {
      if (this.queued.length >= MAX_QUEUED_BEFORE_OPEN) {
        this.fail(GrpcStatus.RESOURCE_EXHAUSTED, 'too many requests before the stream was opened', 'queue_full');
        return;
      }
      this.queued.push(request);
      return;
    }
    if (!request.node) {
      this.fail(GrpcStatus.INVALID_ARGUMENT, 'node: required on the first request of a stream', 'bad_request');
      return;
    }
    if (!request.node.id) {
      this.fail(GrpcStatus.INVALID_ARGUMENT, 'node.id: required on the first request of a stream', 'bad_request');
      return;
    }
    this.node = request.node;
    this.queued = [request];
    void this.open(request.node);
  }

  /** The drained transport can take more messages. */
  drained(): void {
    this.outbox.drained();
  }

  /** The stream ended (client half-close, cancellation or error); releases everything. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.outbox.close();
    this.unwatch?.();
    this.unwatch = undefined;
    const view = this.view;
    this.view = undefined;
    if (view) {
      try {
        view.close();
      } catch (error) {
        this.log.error({ err: error }, 'proxy view close failed');
      }
    }
  }

  /** Ends the stream from the server side (e.g. shutdown) without counting it as an error. */
  endWith(code: GrpcStatus, details: string): void {
    if (this.ended) return;
    this.close();
    this.call.end(code, details);
  }

  status(): ProxyStatus {
    return {
      nodeId: this.node?.id ?? '',
      peer: this.call.peer,
      connectedAt: this.connectedAt.toISOString(),
      service: this.options.service,
      types: this.typeStatuses(),
    };
  }

  /** `status()` without per-resource detail, for views over every stream (status reports, metrics). */
  summary(): ProxySummary {
    return { nodeId: this.node?.id ?? '', peer: this.call.peer, connectedAt: this.connectedAt.toISOString(), types: this.typeSummaries() };
  }

  abstract typeSummaries(): TypeSummary[];

  nodeInfo(): NodeInfo | undefined {
    return this.node;
  }

  /** `withNode` is false once the stream has its node: later nodes are ignored, so not decoded. */
  protected abstract decode(bytes: Buffer, withNode: boolean): Request;
  protected abstract handle(request: Request): void;
  protected abstract build(typeUrl: string): Buffer | undefined;
  protected abstract onResourcesChanged(typeUrl: string, at: number): void;
  protected typeCount(): number {
    return this.types.size;
  }

  protected hasType(typeUrl: string): boolean {
    return this.types.has(typeUrl);
  }
  abstract typeStatuses(): TypeStatus[];
  abstract sentResource(typeUrl: string, name: string): EncodedResource | undefined;

  protected nextNonce(): string {
    this.nonceCounter += 1;
    return `${this.streamId}.${this.nonceCounter.toString(36)}`;
  }

  /** Ends the stream with an error status, logs and counts it. */
  protected fail(code: GrpcStatus, details: string, reason: string): void {
    if (this.ended) return;
    this.log.warn({ node: clip(this.node?.id), code: GrpcStatus[code], reason, details: clip(details, 512) }, 'ending xDS stream');
    this.env.metrics.streamRefused(reason);
    this.close();
    this.call.end(code, details);
  }

  /** The view refused a named resource: PERMISSION_DENIED, logged and counted. */
  protected deny(typeUrl: string, name: string, reason: string): void {
    this.log.warn({ node: clip(this.node?.id), typeUrl: clip(typeUrl), name: clip(name), reason: clip(reason, 512) }, 'xDS resource not authorized');
    this.env.metrics.deniedResource(typeUrl);
    this.fail(GrpcStatus.PERMISSION_DENIED, `not authorized for ${clip(typeUrl)} "${clip(name)}": ${clip(reason, 512)}`, 'denied');
  }

  /**
   * Refuses a subscription to a name this stream may never read (e.g. another workload's secret),
   * whether or not the resource exists: a probe must not learn which names exist.
   */
  protected denyUnauthorizedNames(typeUrl: string, names: Iterable<string>): boolean {
    for (const name of names) {
      if (name === '*') continue;
      const reason = this.view?.authorize(typeUrl, name);
      if (reason !== undefined) {
        this.deny(typeUrl, name, reason);
        return true;
      }
    }
    return false;
  }

  /** Checks a request's type against the stream and the per-stream type limit. */
  protected checkNewType(typeUrl: string): boolean {
    if (this.hasType(typeUrl)) return true;
    if (this.typeCount() >= MAX_TYPES_PER_STREAM) {
      this.fail(GrpcStatus.INVALID_ARGUMENT, `type_url: more than ${MAX_TYPES_PER_STREAM} types on one stream`, 'bad_request');
      return false;
    }
    return true;
  }

  /** Logs a NACK: the first few of a stream, then every hundredth, so a NACK loop cannot flood the log. */
  protected logNack(fields: Record<string, unknown>): void {
    this.nacks += 1;
    if (this.nacks > NACKS_LOGGED_IN_FULL && this.nacks % 100 !== 0) return;
    this.log.warn({ node: clip(this.node?.id), ...fields, nacksOnStream: this.nacks }, 'xDS response NACKed');
  }

  /** Logs once per stream and type that the source has nothing of a type a client asked for. */
  protected noteNotReady(typeUrl: string): void {
    this.warnedTypes ??= new Set();
    if (this.warnedTypes.has(typeUrl)) return;
    this.warnedTypes.add(typeUrl);
    if (KNOWN_TYPES.has(typeUrl)) {
      this.log.debug({ node: clip(this.node?.id), typeUrl }, 'no resources of this type for the proxy yet; holding');
    } else {
      this.log.info({ node: clip(this.node?.id), typeUrl: clip(typeUrl) }, 'request for a type the config source does not serve; holding');
    }
  }

  private withType(request: Request): Request {
    const fixed = this.options.fixedType;
    if (fixed === undefined) {
      if (!request.typeUrl) throw new BadRequestError('type_url: required on the aggregated (ADS) stream');
      return request;
    }
    if (!request.typeUrl) return { ...request, typeUrl: fixed };
    if (request.typeUrl !== fixed) {
      throw new BadRequestError(`type_url: ${clip(request.typeUrl)} is not served by this service (expected ${fixed})`);
    }
    return request;
  }

  private async open(node: NodeInfo): Promise<void> {
    let view: ProxyView;
    try {
      view = await this.env.source.open({ node, peer: this.call.peer, metadata: this.call.metadata });
    } catch (error) {
      if (error instanceof StreamRefusedError) {
        const code = error.code === 'UNAUTHENTICATED' ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.PERMISSION_DENIED;
        this.fail(code, error.message, error.code === 'UNAUTHENTICATED' ? 'unauthenticated' : 'refused');
      } else {
        this.log.error({ err: error, node: clip(node.id) }, 'config source failed to open a stream');
        this.fail(GrpcStatus.UNAVAILABLE, 'configuration source unavailable', 'source_error');
      }
      return;
    }
    if (this.ended) {
      view.close();
      return;
    }
    const refusal = this.call.authenticated(node.id);
    if (refusal) {
      view.close();
      this.fail(GrpcStatus.RESOURCE_EXHAUSTED, refusal.message, refusal.reason);
      return;
    }
    this.view = view;
    this.unwatch = view.watch(
      (typeUrls) => this.changed(typeUrls),
      (code, reason) => this.fail(GrpcStatus[code], clip(reason, 512) ?? '', 'ended_by_source'),
    );
    const queued = this.queued ?? [];
    this.queued = undefined;
    for (const request of queued) {
      if (this.ended) return;
      this.handleGuarded(request);
    }
  }

  private changed(typeUrls: ReadonlySet<string>): void {
    if (this.ended) return;
    const at = this.env.now();
    for (const typeUrl of typeUrls) if (this.hasType(typeUrl)) this.onResourcesChanged(typeUrl, at);
  }

  private handleGuarded(request: Request): void {
    try {
      this.handle(request);
    } catch (error) {
      this.failWith(error);
    }
  }

  private buildGuarded(typeUrl: string): Buffer | undefined {
    if (this.ended || !this.view) return undefined;
    try {
      return this.build(typeUrl);
    } catch (error) {
      this.failWith(error);
      return undefined;
    }
  }

  private failWith(error: unknown): void {
    if (error instanceof BadRequestError) {
      this.fail(GrpcStatus.INVALID_ARGUMENT, error.message, 'bad_request');
      return;
    }
    this.log.error({ err: error, node: clip(this.node?.id) }, 'xDS stream failed');
    this.fail(GrpcStatus.INTERNAL, 'internal error', 'internal');
  }
}
