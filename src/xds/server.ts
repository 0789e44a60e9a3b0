import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type protobuf from 'protobufjs';
import { LogThrottle } from '../observability/log-throttle.js';
import { realClock, type Clock, type TimerHandle } from '../core/clock.js';
import { StreamAdmission, peerAddress, type AdmissionTicket } from './admission.js';
import type { ConfigSource, StatusReaderCheck } from './contract.js';
import { ClientStatusReporter } from './csds.js';
import { ClientStatusService } from './csds-service.js';
import { endWithError } from './end-call.js';
import { DeltaSession } from './delta-session.js';
import { FetchError, fetchResources } from './fetch.js';
import { XdsMetrics } from './metrics.js';
import { FlushScheduler } from './outbox.js';
import { loadEnvoyProtos } from './envoy-proto-loader.js';
import { RequestDecoder } from './requests.js';
import type { SessionEnvironment, XdsCall } from './session.js';
import { SharedResponses } from './shared-responses.js';
import { SotwSession } from './sotw-session.js';
import { adsDefinition, csdsDefinition, perTypeDefinition, PER_TYPE_SERVICES } from './services.js';
import type { ProxyStatus, ProxySummary } from './status.js';
import { typeLabel } from './type-order.js';

export type { ProxyStatus, ProxySummary, ResourceStatus, TypeStatus, TypeSummary } from './status.js';

export interface XdsLimits {
  /** Concurrent xDS streams (all services); more are refused with RESOURCE_EXHAUSTED. */
  maxStreams: number;
  /**
   * Concurrent streams being set up (no first request yet, or the source still checking their
   * credentials); more wait their turn, and end UNAVAILABLE if the wait outlasts six
   * `firstRequestTimeoutMs` (admission.ts).
   */
  maxPendingStreams: number;
  /** Concurrent streams from one remote IP address. */
  maxStreamsPerPeer: number;
  /** Concurrent not-yet-accepted streams from one remote IP address, waiting or being set up; more are refused. */
  maxPendingStreamsPerPeer: number;
  /** Concurrent streams of one workload (node id, once the source accepted the stream). */
  maxStreamsPerWorkload: number;
  /** A stream that sends no first request within this long is ended with DEADLINE_EXCEEDED. */
  firstRequestTimeoutMs: number;
  /** Resource names in one request (Delta: subscribe + unsubscribe); more is INVALID_ARGUMENT. */
  maxResourceNamesPerRequest: number;
  /** Largest request message accepted (grpc.max_receive_message_length). */
  maxReceiveMessageBytes: number;
}

/** A stream waits at most this many first-request deadlines for a place among the streams being set up. */
const QUEUE_WAIT_FACTOR = 6;

export const DEFAULT_XDS_LIMITS: XdsLimits = {
  maxStreams: 20_000,
  maxPendingStreams: 2_000,
  maxStreamsPerPeer: 1_000,
  maxPendingStreamsPerPeer: 200,
  maxStreamsPerWorkload: 64,
  firstRequestTimeoutMs: 10_000,
  maxResourceNamesPerRequest: 10_000,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
};

export interface XdsServerOptions {
  source: ConfigSource;
  /** Timers; the real clock by default. */
  clock?: Clock;
  logger: Logger;
  metrics: Registry;
  limits?: Partial<XdsLimits>;
  /** Sent as `control_plane.identifier` in every response. */
  controlPlaneId?: string;
  /** An already loaded proto Root (loadEnvoyProtos()); loaded here if absent. */
  root?: protobuf.Root;
  /** Milliseconds clock for push-latency and status timestamps; Date.now by default. */
  now?: () => number;
  /**
   * Who may read client status (CSDS), decided by the caller of the transport (e.g. an operator
   * token check). Without it CSDS refuses every call.
   */
  authorizeStatusReader?: StatusReaderCheck;
  /**
   * Connections older than `maxMs` (± 10 %, applied by grpc-js) are sent GOAWAY and closed `graceMs`
   * later, ending their streams with UNAVAILABLE, so long-lived clients reconnect and spread over
   * the servers behind one address. Unlimited if absent.
   */
  connectionAge?: { readonly maxMs: number; readonly graceMs: number };
}

type DuplexCall = grpc.ServerDuplexStream<Buffer, Buffer>;

/**
 * The xDS transport: ADS (SotW and Delta), per-type discovery services (Stream, Delta, Fetch) and
 * CSDS on one gRPC server. It serves whatever encoded resources its ConfigSource hands it and
 * knows nothing about meshes.
 */
export class XdsServer {
  readonly grpcServer: grpc.Server;
  private readonly limits: XdsLimits;
  private readonly clock: Clock;
  private readonly sessions = new Set<SotwSession | DeltaSession>();
  private readonly admission: StreamAdmission;
  private readonly env: SessionEnvironment;
  private readonly metrics: XdsMetrics;
  private readonly csds: ClientStatusService;
  private readonly logger: Logger;
  private readonly refusals: LogThrottle;
  private readonly instanceId = randomBytes(4).toString('hex');
  private streamCounter = 0;
  private fetchCounter = 0;
  /** Set by drain(): resolves once every connection has closed. */
  private shutdown: Promise<void> | undefined;

  constructor(private readonly options: XdsServerOptions) {
    this.limits = { ...DEFAULT_XDS_LIMITS, ...options.limits };
    this.clock = options.clock ?? realClock;
    const root = options.root ?? loadEnvoyProtos();
    this.logger = options.logger.child({ component: 'xds' });
    this.metrics = new XdsMetrics(options.metrics);
    this.refusals = new LogThrottle(this.logger);
    this.admission = new StreamAdmission(this.limits);
    this.csds = new ClientStatusService({
      reporter: new ClientStatusReporter(root),
      subjects: () => this.sessions,
      check: options.authorizeStatusReader,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.env = {
      source: options.source,
      logger: this.logger,
      metrics: this.metrics,
      decoder: new RequestDecoder(root, this.limits.maxResourceNamesPerRequest),
      responses: new SharedResponses(options.controlPlaneId ?? ''),
      now: options.now ?? Date.now,
      scheduler: new FlushScheduler(),
      nextStreamId: () => {
        this.streamCounter += 1;
        return `${this.instanceId}-${this.streamCounter.toString(36)}`;
      },
    };
    this.grpcServer = new grpc.Server({
      'grpc.max_receive_message_length': this.limits.maxReceiveMessageBytes,
      ...(options.connectionAge
        ? { 'grpc.max_connection_age_ms': options.connectionAge.maxMs, 'grpc.max_connection_age_grace_ms': options.connectionAge.graceMs }
        : {}),
    });
    this.grpcServer.addService(adsDefinition(), {
      StreamAggregatedResources: (call: DuplexCall) => this.serveStream(call, 'sotw', 'ads', undefined),
      DeltaAggregatedResources: (call: DuplexCall) => this.serveStream(call, 'delta', 'ads', undefined),
    });
    for (const service of PER_TYPE_SERVICES) {
      this.grpcServer.addService(perTypeDefinition(service), {
        [service.stream]: (call: DuplexCall) => this.serveStream(call, 'sotw', service.typeUrl, service.typeUrl),
        [service.delta]: (call: DuplexCall) => this.serveStream(call, 'delta', service.typeUrl, service.typeUrl),
        [service.fetch]: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
          this.serveFetch(call, callback, service.typeUrl),
      });
    }
    this.grpcServer.addService(csdsDefinition(), {
      StreamClientStatus: (call: DuplexCall) => this.csds.stream(call),
      FetchClientStatus: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => this.csds.fetch(call, callback),
    });
  }

  /** Binds and starts serving; "127.0.0.1:0" picks a free port. Insecure unless credentials are given. */
  listen(address: string, credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    return new Promise((resolve, reject) => {
      this.grpcServer.bindAsync(address, credentials, (error, port) => {
        if (error) reject(error);
        else resolve(port);
      });
    });
  }

  /**
   * Start draining: new connections and new streams are refused (UNAVAILABLE: clients go to
   * another server), while the streams already open keep being served. Idempotent.
   */
  drain(): void {
    if (this.shutdown) return;
    this.shutdown = new Promise((resolve) => this.grpcServer.tryShutdown(() => resolve()));
  }

  get draining(): boolean {
    return this.shutdown !== undefined;
  }

  /**
   * Graceful stop (draining first if drain() was not called): every open xDS stream is ended with
   * UNAVAILABLE at a random moment within `closeWindowMs` (at once by default) — so their clients
   * do not all reconnect to the other servers together — then in-flight calls get `graceMs`
   * before a forced shutdown.
   */
  async close(graceMs = 5_000, spread: { closeWindowMs?: number; random?: () => number } = {}): Promise<void> {
    const closeWindowMs = spread.closeWindowMs ?? 0;
    const random = spread.random ?? Math.random;
    this.drain();
    this.csds.closeAll(grpc.status.UNAVAILABLE, 'server shutting down');
    const end = (session: SotwSession | DeltaSession): void => session.endWith(grpc.status.UNAVAILABLE, 'server shutting down');
    if (closeWindowMs <= 0) {
      for (const session of [...this.sessions]) end(session);
    } else {
      await Promise.all(
        [...this.sessions].map(
          (session) => new Promise<void>((resolve) => this.clock.setTimeout(() => {
            end(session);
            resolve();
          }, Math.floor(random() * closeWindowMs))),
        ),
      );
    }
    let timer: TimerHandle | undefined;
    const forced = new Promise<void>((resolve) => {
      timer = this.clock.setTimeout(() => {
        this.grpcServer.forceShutdown();
        resolve();
      }, graceMs);
    });
    await Promise.race([this.shutdown, forced]);
    this.clock.clearTimeout(timer);
  }

  /** Every connected stream's proxy, subscriptions and per-resource delivery state. */
  proxies(): ProxyStatus[] {
    const out: ProxyStatus[] = [];
    for (const session of this.sessions) if (session.nodeInfo()) out.push(session.status());
    return out;
  }

  /** `proxies()` without per-resource detail (still ≈ 50 ms at 10,000 streams). */
  proxySummaries(): ProxySummary[] {
    return [...this.eachProxySummary()];
  }

  /** `proxySummaries` one at a time, each built when it is reached: a caller may spread the work over several callbacks. */
  *eachProxySummary(): Generator<ProxySummary> {
    for (const session of this.sessions) if (session.nodeInfo()) yield session.summary();
  }

  /** Streams open now, and how many of them the config source has not accepted yet. */
  streamCounts(): { open: number; pending: number; queued: number } {
    return { open: this.admission.openStreams, pending: this.admission.pendingStreams, queued: this.admission.queuedStreams };
  }

  private serveStream(call: DuplexCall, mode: 'sotw' | 'delta', service: string, fixedType: string | undefined): void {
    const peer = call.getPeer();
    if (this.draining) {
      // A stream that raced in on a connection opened before the drain began.
      this.metrics.streamRefused('draining');
      this.refusals.warn('draining', { peer }, 'refusing xDS stream: draining for shutdown');
      endWithError(call, grpc.status.UNAVAILABLE, 'this control-plane replica is shutting down; connect to another');
      return;
    }
    const admitted = this.admission.admit(peerAddress(peer));
    if (!('release' in admitted)) {
      this.metrics.streamRefused(admitted.reason);
      this.refusals.warn(admitted.reason, { peer, reason: admitted.reason, details: admitted.message }, 'refusing xDS stream');
      endWithError(call, grpc.status.RESOURCE_EXHAUSTED, admitted.message);
      return;
    }
    const ticket: AdmissionTicket = admitted;
    if (!ticket.isQueued) {
      this.startStream(call, mode, service, fixedType, ticket);
      return;
    }
    // Waiting for a place among the streams being set up: released if the client gives up first,
    // or told to try elsewhere if the wait is long (a whole fleet reconnecting takes seconds).
    const giveUp = (): void => ticket.release();
    call.on('cancelled', giveUp);
    call.on('close', giveUp);
    call.on('error', giveUp);
    const queueTimer = this.clock.setTimeout(() => {
      if (!ticket.isQueued) return;
      ticket.release();
      this.metrics.streamRefused('queue_timeout');
      this.refusals.warn('queue_timeout', { peer }, 'ending xDS stream: it waited too long for a place among the streams being set up');
      endWithError(call, grpc.status.UNAVAILABLE, 'this control-plane replica is busy setting up other streams; retry, or connect to another');
    }, this.limits.firstRequestTimeoutMs * QUEUE_WAIT_FACTOR);
    ticket.whenStarted(() => {
      this.clock.clearTimeout(queueTimer);
      call.off('cancelled', giveUp);
      call.off('close', giveUp);
      call.off('error', giveUp);
      this.startStream(call, mode, service, fixedType, ticket);
    });
  }

  private startStream(call: DuplexCall, mode: 'sotw' | 'delta', service: string, fixedType: string | undefined, ticket: AdmissionTicket): void {
    const peer = call.getPeer();
    if (this.draining) {
      // It waited in line while the drain began.
      ticket.release();
      this.metrics.streamRefused('draining');
      endWithError(call, grpc.status.UNAVAILABLE, 'this control-plane replica is shutting down; connect to another');
      return;
    }
    let finished = false;
    const xdsCall: XdsCall = {
      peer,
      metadata: call.metadata,
      write: (message, written) => call.write(message, () => written()),
      end: (code, details) => {
        if (finished) return;
        finished = true;
        endWithError(call, code, details);
      },
      authenticated: (nodeId) => {
        // The first request came: its deadline no longer applies (and its timer is not held per stream).
        this.clock.clearTimeout(firstRequestTimer);
        firstRequestTimer = undefined;
        return ticket.authenticated(nodeId);
      },
    };
    const sessionOptions = { service: service === 'ads' ? 'ads' : service, fixedType };
    const session = mode === 'sotw' ? new SotwSession(this.env, xdsCall, sessionOptions) : new DeltaSession(this.env, xdsCall, sessionOptions);
    this.sessions.add(session);
    const serviceLabel = service === 'ads' ? 'ads' : typeLabel(service);
    this.metrics.streamOpened(serviceLabel, mode);
    let firstRequestTimer: TimerHandle | undefined = this.clock.setTimeout(() => {
      if (session.nodeInfo() !== undefined || session.isEnded) return;
      const seconds = this.limits.firstRequestTimeoutMs / 1000;
      this.metrics.streamRefused('first_request_timeout');
      this.refusals.warn('first_request_timeout', { peer, timeoutMs: this.limits.firstRequestTimeoutMs }, 'ending xDS stream: no first request in time');
      session.endWith(grpc.status.DEADLINE_EXCEEDED, `no DiscoveryRequest within ${seconds} s of opening the stream`);
      release();
    }, this.limits.firstRequestTimeoutMs);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.clock.clearTimeout(firstRequestTimer);
      session.close();
      this.sessions.delete(session);
      ticket.release();
      this.metrics.streamClosed(serviceLabel, mode);
    };
    call.on('data', (bytes: Buffer) => session.receive(bytes));
    call.on('drain', () => session.drained());
    call.on('end', () => {
      // The client half-closed: finish normally.
      release();
      xdsCall.end(grpc.status.OK, 'OK');
    });
    call.on('cancelled', release);
    call.on('close', release);
    call.on('error', release);
    call.on('finish', release);
  }

  private serveFetch(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>, typeUrl: string): void {
    this.fetchCounter += 1;
    fetchResources(call.request, typeUrl, {
      source: this.options.source,
      decoder: this.env.decoder,
      responses: this.env.responses,
      peer: call.getPeer(),
      metadata: call.metadata,
      nonce: `${this.instanceId}-f${this.fetchCounter.toString(36)}`,
    }).then(
      (response) => callback(null, response),
      (error: unknown) => {
        const code = error instanceof FetchError ? error.code : grpc.status.INTERNAL;
        const details = error instanceof FetchError ? error.message : 'internal error';
        if (!(error instanceof FetchError)) this.logger.error({ err: error }, 'fetch failed');
        callback({ code, details });
      },
    );
  }
}
