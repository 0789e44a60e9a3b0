/**
 * A minimal state-of-the-world ADS server for tests: it serves each connecting node the
 * resources a callback returns for its node id, records ACKs and NACKs, never resends what was
 * ACKed, and re-sends everything on `push()`. Test-only; the real transport lives in src/xds.
 */
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import type { ProxyResources } from '../../../src/mesh/index.js';

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';

interface DiscoveryRequest {
  version_info?: string;
  node?: { id?: string };
  type_url?: string;
  response_nonce?: string;
  resource_names?: string[];
  error_detail?: { message?: string };
}

export class TestAdsServer {
  readonly nacks: string[] = [];
  /** `nodeId type_url` → the last version that node ACKed. */
  readonly acked = new Map<string, string>();
  private readonly server = new grpc.Server();
  private readonly streams = new Set<() => void>();
  private nonce = 0;
  private version = 1;

  constructor(root: protobuf.Root, resourcesFor: (nodeId: string) => ProxyResources) {
    const requestType = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    const responseType = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    const definition: grpc.ServiceDefinition = {
      StreamAggregatedResources: {
        path: ADS_PATH,
        requestStream: true,
        responseStream: true,
        requestSerialize: (value: DiscoveryRequest) => Buffer.from(requestType.encode(requestType.fromObject(value)).finish()),
        requestDeserialize: (bytes: Buffer) => requestType.toObject(requestType.decode(bytes), { enums: String, longs: Number }) as DiscoveryRequest,
        responseSerialize: (value: Record<string, unknown>) => Buffer.from(responseType.encode(responseType.fromObject(value)).finish()),
        responseDeserialize: (bytes: Buffer) => responseType.toObject(responseType.decode(bytes)),
      },
    };
    this.server.addService(definition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, Record<string, unknown>>) => {
        let nodeId = '';
        // Per type: the nonce last sent and the names subscribed then. A request carrying that
        // nonce and the same names is an ACK (or a NACK) and gets no response.
        const sent = new Map<string, { nonce: string; names: string }>();
        const send = (typeUrl: string, names: string): void => {
          const resources = [...(resourcesFor(nodeId).get(typeUrl)?.values() ?? [])].map((r) => ({ '@type': typeUrl, ...r }));
          const nonce = String(++this.nonce);
          sent.set(typeUrl, { nonce, names });
          call.write({ version_info: String(this.version), nonce, type_url: typeUrl, resources });
        };
        const push = (): void => {
          for (const [typeUrl, { names }] of sent) send(typeUrl, names);
        };
        this.streams.add(push);
        call.on('data', (request: DiscoveryRequest) => {
          nodeId = request.node?.id ?? nodeId;
          const typeUrl = request.type_url ?? '';
          if (request.error_detail?.message) this.nacks.push(`${nodeId} ${typeUrl}: ${request.error_detail.message}`);
          else if (request.version_info) this.acked.set(`${nodeId} ${typeUrl}`, request.version_info);
          const names = [...(request.resource_names ?? [])].sort().join(',');
          const last = sent.get(typeUrl);
          if (last && last.nonce === request.response_nonce && last.names === names) return;
          send(typeUrl, names);
        });
        call.on('error', () => undefined);
        call.on('end', () => {
          this.streams.delete(push);
          call.end();
        });
      },
    });
  }

  /** Sends every stream its current resources again, under a new version; returns that version. */
  push(): string {
    this.version++;
    for (const push of this.streams) push();
    return String(this.version);
  }

  /** Resolves once `nodeId` ACKed `version` of a type (polling; tests only). */
  async waitForAck(nodeId: string, typeUrl: string, version: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.acked.get(`${nodeId} ${typeUrl}`) !== version) {
      if (Date.now() > deadline) throw new Error(`${nodeId} never ACKed ${typeUrl} version ${version}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  start(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port)));
    });
  }

  stop(): void {
    this.server.forceShutdown();
  }
}
