import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const passThrough = (value: Buffer): Buffer => value;

type Decoded = Record<string, unknown>;
interface Waiter {
  typeUrl: string;
  matches: (resource: Decoded) => boolean;
  resolve: (resources: Decoded[]) => void;
}

/**
 * A small SotW ADS client for benchmarks: one stream, ACKs every response, keeps the latest
 * resources per type and lets the caller wait for a resource that matches.
 */
export class MinimalAdsClient {
  private readonly client: grpc.Client;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;
  private readonly request: protobuf.Type;
  private readonly response: protobuf.Type;
  private readonly subscriptions = new Map<string, string[]>();
  private readonly latest = new Map<string, Decoded[]>();
  private readonly waiters = new Set<Waiter>();

  constructor(
    address: string,
    private readonly root: protobuf.Root,
    token: string,
  ) {
    this.request = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    this.response = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const Client = grpc.makeGenericClientConstructor({}, 'BenchAds');
    this.client = new Client(address, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    this.call = this.client.makeBidiStreamRequest<Buffer, Buffer>(ADS_PATH, passThrough, passThrough, metadata);
    this.call.on('data', (bytes: Buffer) => this.onResponse(bytes));
    this.call.on('error', () => undefined);
  }

  async subscribe(node: { id: string; userAgentName: string } | undefined, typeUrl: string, names: string[]): Promise<void> {
    this.subscriptions.set(typeUrl, names);
    this.send({
      ...(node ? { node: { id: node.id, cluster: 'bench', user_agent_name: node.userAgentName, locality: { zone: 'z' } } } : {}),
      type_url: typeUrl,
      resource_names: names,
    });
  }

  /** Resolves with the type's resources once one matches (checking what is already there first). */
  waitFor(typeUrl: string, matches: (resource: Decoded) => boolean, timeoutMs: number): Promise<Decoded[]> {
    const current = this.latest.get(typeUrl);
    if (current?.some(matches)) return Promise.resolve(current);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { typeUrl, matches, resolve };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no matching ${typeUrl} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiter.resolve = (resources) => {
        clearTimeout(timer);
        resolve(resources);
      };
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }

  private send(message: Record<string, unknown>): void {
    this.call.write(Buffer.from(this.request.encode(this.request.fromObject(message)).finish()));
  }

  private onResponse(bytes: Buffer): void {
    const response = this.response.toObject(this.response.decode(bytes), { defaults: true }) as {
      type_url: string;
      version_info: string;
      nonce: string;
      resources: { type_url: string; value: Uint8Array }[];
    };
    const resources = response.resources.map((any) => {
      const type = this.root.lookupType(any.type_url.slice(any.type_url.lastIndexOf('/') + 1));
      return type.toObject(type.decode(any.value), { longs: String, enums: String }) as Decoded;
    });
    this.latest.set(response.type_url, resources);
    this.send({
      type_url: response.type_url,
      version_info: response.version_info,
      response_nonce: response.nonce,
      resource_names: this.subscriptions.get(response.type_url) ?? [],
    });
    for (const waiter of [...this.waiters]) {
      if (waiter.typeUrl === response.type_url && resources.some(waiter.matches)) {
        this.waiters.delete(waiter);
        waiter.resolve(resources);
      }
    }
  }
}
