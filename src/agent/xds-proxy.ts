import { chmod, lstat, unlink } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../observability/logger.js';
import { grpcAddress, type ListenAddress } from './listen-address.js';

/** The xDS methods the proxy forwards; bytes pass through untouched. */
const FORWARDED_METHODS: readonly string[] = [
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
];

const passThrough = (value: Buffer): Buffer => value;

export interface XdsProxyOptions {
  /** Control-plane replicas, `host:port`; the proxy starts with the first and fails over to another at random. */
  readonly upstreams: readonly string[];
  /** The current workload token (it is renewed), sent as `authorization: Bearer` on every upstream stream. */
  readonly token: () => string;
  readonly logger: Logger;
  readonly credentials?: grpc.ChannelCredentials;
  /** Told (in words) about every upstream stream that ended with an error. */
  readonly onUpstreamFailure?: (message: string) => void;
}

/** What an upstream status means for the operator. */
function describeUpstreamStatus(status: grpc.StatusObject | grpc.ServiceError, upstream: string): string {
  const details = (status.details ?? '').slice(0, 300);
  switch (status.code) {
    case grpc.status.UNAVAILABLE:
      return `cannot reach the control plane's xDS at ${upstream}: ${details}`;
    case grpc.status.UNAUTHENTICATED:
      return `the control plane at ${upstream} refused the workload token for xDS: ${details}`;
    case grpc.status.PERMISSION_DENIED:
      return `the control plane at ${upstream} denied this workload xDS: ${details}`;
    default:
      return `xDS stream to ${upstream} ended with ${grpc.status[status.code] ?? status.code}: ${details}`;
  }
}

/** Owner read/write only: connecting to a Unix socket needs write permission on it. */
const SOCKET_MODE = 0o600;

/**
 * A local, plaintext xDS endpoint for proxyless gRPC clients, which cannot send credentials. By
 * default it is a Unix socket only its owner can connect to (mode 0600), because whoever connects
 * is served the workload's configuration and, through SDS, its freshly issued key. Every
 * downstream stream is forwarded to the current control-plane replica with the workload's token.
 * When the replica fails, the downstream stream ends with UNAVAILABLE; the client reconnects (with
 * its versions, which are content hashes, so the next replica sends nothing it already has) and
 * the proxy dials the next replica.
 */
export class XdsProxy {
  private readonly server = new grpc.Server();
  private readonly clients: grpc.Client[];
  private current = 0;
  private readonly log: Logger;
  private readonly calls = new Set<grpc.ServerDuplexStream<Buffer, Buffer>>();

  constructor(private readonly options: XdsProxyOptions) {
    if (options.upstreams.length === 0) throw new Error('--xds needs at least one control-plane address');
    this.log = options.logger.child({ component: 'agent-xds-proxy' });
    const Client = grpc.makeGenericClientConstructor({}, 'AccordXdsUpstream');
    this.clients = options.upstreams.map(
      (address) => new Client(address, options.credentials ?? grpc.credentials.createInsecure(), { 'grpc.keepalive_time_ms': 10_000 }),
    );
    const definition: Record<string, grpc.MethodDefinition<Buffer, Buffer>> = {};
    const handlers: grpc.UntypedServiceImplementation = {};
    for (const path of FORWARDED_METHODS) {
      const name = path.slice(path.lastIndexOf('/') + 1);
      definition[name] = {
        path,
        requestStream: true,
        responseStream: true,
        requestSerialize: passThrough,
        requestDeserialize: passThrough,
        responseSerialize: passThrough,
        responseDeserialize: passThrough,
      };
      handlers[name] = (call: grpc.ServerDuplexStream<Buffer, Buffer>) => this.forward(path, call);
    }
    this.server.addService(definition as grpc.ServiceDefinition, handlers);
  }

  /** Binds; resolves with the TCP port (0 for a Unix socket). */
  async listen(address: ListenAddress): Promise<number> {
    if (address.kind === 'tcp') {
      this.log.warn(
        { listen: grpcAddress(address) },
        'local xDS proxy on TCP: any local user who can connect gets this workload\'s configuration and certificates; prefer the default Unix socket',
      );
      return this.bind(grpcAddress(address));
    }
    await removeStaleSocket(address.path);
    // The socket is created with the umask's mode: restrict it before bind so no other user can
    // connect in the moment before chmod. The agent writes no other files while it binds.
    const previous = process.umask(0o177);
    try {
      await this.bind(grpcAddress(address));
    } finally {
      process.umask(previous);
    }
    await chmod(address.path, SOCKET_MODE);
    return 0;
  }

  private bind(target: string): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  get upstream(): string {
    return this.options.upstreams[this.current] as string;
  }

  async close(): Promise<void> {
    for (const call of this.calls) call.end();
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    for (const client of this.clients) client.close();
  }

  private forward(path: string, downstream: grpc.ServerDuplexStream<Buffer, Buffer>): void {
    const index = this.current;
    const client = this.clients[index] as grpc.Client;
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${this.options.token()}`);
    const upstream = client.makeBidiStreamRequest<Buffer, Buffer>(path, passThrough, passThrough, metadata);
    this.calls.add(downstream);
    let finished = false;
    const finish = (status: grpc.StatusObject | grpc.ServiceError | undefined): void => {
      if (finished) return;
      finished = true;
      this.calls.delete(downstream);
      upstream.cancel();
      if (status && status.code !== grpc.status.OK && status.code !== grpc.status.CANCELLED) {
        const failed = this.options.upstreams[index] as string;
        const message = describeUpstreamStatus(status, failed);
        if (status.code === grpc.status.UNAVAILABLE && index === this.current) {
          // Another replica at random: agents leaving a draining or aged-out replica spread over the rest.
          const others = this.clients.length - 1;
          if (others > 0) this.current = (this.current + 1 + Math.floor(Math.random() * others)) % this.clients.length;
          this.log.warn({ failed, next: this.upstream }, `${message}; failing over (the client reconnects with backoff)`);
        } else {
          this.log.warn({ upstream: failed, code: grpc.status[status.code] }, message);
        }
        this.options.onUpstreamFailure?.(message);
        downstream.emit('error', { code: status.code, details: status.details, metadata: new grpc.Metadata() });
      } else {
        downstream.end();
      }
    };
    downstream.on('data', (chunk: Buffer) => {
      if (!upstream.write(chunk)) downstream.pause();
    });
    upstream.on('drain', () => downstream.resume());
    downstream.on('end', () => upstream.end());
    downstream.on('error', () => finish(undefined));
    downstream.on('cancelled', () => finish(undefined));
    upstream.on('data', (chunk: Buffer) => {
      if (!downstream.write(chunk)) upstream.pause();
    });
    downstream.on('drain', () => upstream.resume());
    upstream.on('status', (status: grpc.StatusObject) => finish(status));
    upstream.on('error', (error: grpc.ServiceError) => finish(error));
  }
}

/** A socket left by an agent that did not stop cleanly would make bind fail; anything else at the path is kept. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const existing = await lstat(socketPath).catch(() => undefined);
  if (!existing) return;
  if (!existing.isSocket()) throw new Error(`--listen: ${socketPath} exists and is not a socket; refusing to replace it`);
  await unlink(socketPath);
}
