/**
 * A minimal state-of-the-world ADS server for tests: it serves each connecting node the
 * resources a callback returns for its node id, records NACKs, and never resends what was ACKed.
 * Test-only; the real transport lives in src/xds.
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
  private readonly server = new grpc.Server();
  private nonce = 0;

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
        call.on('data', (request: DiscoveryRequest) => {
          nodeId = request.node?.id ?? nodeId;
          const typeUrl = request.type_url ?? '';
          if (request.error_detail?.message) this.nacks.push(`${nodeId} ${typeUrl}: ${request.error_detail.message}`);
          const names = [...(request.resource_names ?? [])].sort().join(',');
          const last = sent.get(typeUrl);
          if (last && last.nonce === request.response_nonce && last.names === names) return;
          const resources = [...(resourcesFor(nodeId).get(typeUrl)?.values() ?? [])].map((r) => ({ '@type': typeUrl, ...r }));
          const nonce = String(++this.nonce);
          sent.set(typeUrl, { nonce, names });
          call.write({ version_info: '1', nonce, type_url: typeUrl, resources });
        });
        call.on('error', () => undefined);
        call.on('end', () => call.end());
      },
    });
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
