import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type protobuf from 'protobufjs';
import type { ConfigSource } from './contract.js';
import { ClientStatusReporter } from './csds.js';
import { DeltaSession } from './delta-session.js';
import { FetchError, fetchResources } from './fetch.js';
import { XdsMetrics } from './metrics.js';
import { FlushScheduler } from './outbox.js';
import { loadEnvoyProtos } from './protos.js';
import { RequestDecoder } from './requests.js';
import type { SessionEnvironment, XdsCall } from './session.js';
import { SharedResponses } from './shared-responses.js';
import { SotwSession } from './sotw-session.js';
import { adsDefinition, csdsDefinition, perTypeDefinition, PER_TYPE_SERVICES } from './services.js';
import type { ProxyStatus } from './status.js';
import { typeLabel } from './type-order.js';

export type { ProxyStatus, ResourceStatus, TypeStatus } from './status.js';

export interface XdsLimits {
  /** Concurrent xDS streams (all services); more are refused with RESOURCE_EXHAUSTED. */
  maxStreams: number;
  /** Resource names in one request (Delta: subscribe + unsubscribe); more is INVALID_ARGUMENT. */
  maxResourceNamesPerRequest: number;
  /** Largest request message accepted (grpc.max_receive_message_length). */
  maxReceiveMessageBytes: number;
}

export const DEFAULT_XDS_LIMITS: XdsLimits = {
  maxStreams: 20_000,
  maxResourceNamesPerRequest: 10_000,
  maxReceiveMessageBytes: 4 * 1024 * 1024,
};

export interface XdsServerOptions {
  source: ConfigSource;
  logger: Logger;
  metrics: Registry;
  limits?: Partial<XdsLimits>;
  /** Sent as `control_plane.identifier` in every response. */
  controlPlaneId?: string;
  /** An already loaded proto Root (loadEnvoyProtos()); loaded here if absent. */
  root?: protobuf.Root;
  /** Milliseconds clock for push-latency and status timestamps; Date.now by default. */
  now?: () => number;
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
  private readonly sessions = new Set<SotwSession | DeltaSession>();
  private readonly statusStreams = new Set<DuplexCall>();
  private readonly env: SessionEnvironment;
  private readonly metrics: XdsMetrics;
  private readonly csds: ClientStatusReporter;
  private readonly logger: Logger;
  private readonly instanceId = randomBytes(4).toString('hex');
  private streamCounter = 0;
  private fetchCounter = 0;

  constructor(private readonly options: XdsServerOptions) {
    this.limits = { ...DEFAULT_XDS_LIMITS, ...options.limits };
    const root = options.root ?? loadEnvoyProtos();
    this.logger = options.logger.child({ component: 'xds' });
    this.metrics = new XdsMetrics(options.metrics);
    this.csds = new ClientStatusReporter(root);
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
      StreamClientStatus: (call: DuplexCall) => this.serveClientStatusStream(call),
      FetchClientStatus: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
        this.serveClientStatusFetch(call, callback),
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
   * Graceful stop: ends every xDS stream with UNAVAILABLE (clients reconnect, possibly to another
   * replica), lets in-flight calls finish, and forces shutdown after `graceMs`.
   */
  close(graceMs = 5_000): Promise<void> {
    for (const session of [...this.sessions]) session.endWith(grpc.status.UNAVAILABLE, 'server shutting down');
    for (const call of [...this.statusStreams]) endCall(call, grpc.status.UNAVAILABLE, 'server shutting down');
    this.statusStreams.clear();
    return new Promise((resolve) => {
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.grpcServer.forceShutdown();
        finish();
      }, graceMs);
      this.grpcServer.tryShutdown(() => finish());
    });
  }

  /** Every connected stream's proxy, subscriptions and per-resource delivery state. */
  proxies(): ProxyStatus[] {
    const out: ProxyStatus[] = [];
    for (const session of this.sessions) if (session.nodeInfo()) out.push(session.status());
    return out;
  }

  private serveStream(call: DuplexCall, mode: 'sotw' | 'delta', service: string, fixedType: string | undefined): void {
    if (this.sessions.size >= this.limits.maxStreams) {
      this.metrics.streamRefused('max_streams');
      this.logger.warn({ peer: call.getPeer(), limit: this.limits.maxStreams }, 'refusing xDS stream: too many streams');
      endCall(call, grpc.status.RESOURCE_EXHAUSTED, `too many xDS streams (limit ${this.limits.maxStreams})`);
      return;
    }
    let finished = false;
    const xdsCall: XdsCall = {
      peer: call.getPeer(),
      metadata: call.metadata,
      write: (message, written) => call.write(message, () => written()),
      end: (code, details) => {
        if (finished) return;
        finished = true;
        endCall(call, code, details);
      },
    };
    const sessionOptions = { service: service === 'ads' ? 'ads' : service, fixedType };
    const session = mode === 'sotw' ? new SotwSession(this.env, xdsCall, sessionOptions) : new DeltaSession(this.env, xdsCall, sessionOptions);
    this.sessions.add(session);
    const serviceLabel = service === 'ads' ? 'ads' : typeLabel(service);
    this.metrics.streamOpened(serviceLabel, mode);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      session.close();
      this.sessions.delete(session);
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

  private serveClientStatusStream(call: DuplexCall): void {
    this.statusStreams.add(call);
    const forget = (): void => {
      this.statusStreams.delete(call);
    };
    call.on('cancelled', forget);
    call.on('close', forget);
    call.on('finish', forget);
    call.on('data', (bytes: Buffer) => {
      try {
        call.write(this.csds.respond(bytes, this.sessions));
      } catch (error) {
        endCall(call, grpc.status.INVALID_ARGUMENT, `malformed ClientStatusRequest: ${error instanceof Error ? error.message : String(error)}`);
      }
    });
    call.on('end', () => {
      forget();
      call.end();
    });
    call.on('error', forget);
  }

  private serveClientStatusFetch(call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): void {
    try {
      callback(null, this.csds.respond(call.request, this.sessions));
    } catch (error) {
      callback({
        code: grpc.status.INVALID_ARGUMENT,
        details: `malformed ClientStatusRequest: ${error instanceof Error ? error.message : String(error)}`,
      });
    }
  }
}

function endCall(call: DuplexCall, code: grpc.status, details: string): void {
  if (code === grpc.status.OK) {
    call.end();
    return;
  }
  const error: Partial<grpc.StatusObject> & Error = Object.assign(new Error(details), { code, details });
  call.emit('error', error);
}
