/**
 * grpc-js-xds's own resource validators (the code a proxyless client runs on every xDS response),
 * called directly: encoded resources in, its NACK message (if any) out. Must be created after
 * `GRPC_XDS_EXPERIMENTAL_RBAC=true` is set, before the package is first loaded.
 */
import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';

interface DecodeResult {
  readonly name: string;
  readonly error?: string;
}
interface ResourceType {
  decode(context: unknown, resource: { type_url: string; value: Buffer }): DecodeResult;
}
interface ResourceTypeModule {
  get(): ResourceType;
}

const require = createRequire(import.meta.url);
const base = '@grpc/grpc-js-xds/build/src';

export class GrpcJsXdsValidator {
  private readonly context: unknown;
  private readonly types: ReadonlyMap<string, ResourceType>;

  constructor(private readonly root: protobuf.Root) {
    (require('@grpc/grpc-js-xds') as { register(): void }).register();
    const bootstrap = require(`${base}/xds-bootstrap.js`) as { validateBootstrapConfig(config: unknown): unknown };
    const info = bootstrap.validateBootstrapConfig({
      xds_servers: [{ server_uri: '127.0.0.1:18000', channel_creds: [{ type: 'insecure' }], server_features: [] }],
      node: { id: 'test', cluster: 'test', locality: { zone: 'z1' } },
      server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
      certificate_providers: {
        default: {
          plugin_name: 'file_watcher',
          config: { certificate_file: '/c.pem', private_key_file: '/k.pem', ca_certificate_file: '/ca.pem', refresh_interval: '1s' },
        },
      },
    }) as { xdsServers: unknown[] };
    this.context = { server: info.xdsServers[0], bootstrap: info };
    const load = (file: string, exported: string): ResourceType =>
      (require(`${base}/xds-resource-type/${file}`) as Record<string, ResourceTypeModule>)[exported].get();
    this.types = new Map([
      ['type.googleapis.com/envoy.config.listener.v3.Listener', load('listener-resource-type.js', 'ListenerResourceType')],
      ['type.googleapis.com/envoy.config.route.v3.RouteConfiguration', load('route-config-resource-type.js', 'RouteConfigurationResourceType')],
      ['type.googleapis.com/envoy.config.cluster.v3.Cluster', load('cluster-resource-type.js', 'ClusterResourceType')],
      ['type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment', load('endpoint-resource-type.js', 'EndpointResourceType')],
    ]);
  }

  /** undefined if grpc-js-xds accepts the resource; otherwise its error. */
  error(typeUrl: string, resource: Readonly<Record<string, unknown>>): string | undefined {
    const resourceType = this.types.get(typeUrl);
    if (!resourceType) return `no grpc-js-xds resource type for ${typeUrl}`;
    const type = this.root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
    const value = Buffer.from(type.encode(type.fromObject(resource)).finish());
    return resourceType.decode(this.context, { type_url: typeUrl, value }).error;
  }
}
