import path from 'node:path';
import type { Workload } from '../../core/workload.js';
import { bootstrapNode } from './node.js';

/** Listener names an xDS-enabled gRPC server asks for; `%s` becomes the `IP:port` it binds. */
export const GRPC_SERVER_LISTENER_TEMPLATE = 'grpc/server?xds.resource.listening_address=%s';
/** The certificate provider instance that Accord's gRPC security resources refer to. */
export const GRPC_CERTIFICATE_PROVIDER_INSTANCE = 'default';
export const CERTIFICATE_FILE = 'cert.pem';
export const PRIVATE_KEY_FILE = 'key.pem';
export const CA_CERTIFICATE_FILE = 'ca.pem';

export interface GrpcBootstrapInput {
  readonly workload: Workload;
  /** The agent's local xDS proxy, `host:port`; proxyless clients cannot authenticate to the server directly. */
  readonly xdsAddress: string;
  /** Where the agent keeps cert.pem, key.pem and ca.pem current. */
  readonly certDir: string;
}

/**
 * The gRPC xDS bootstrap (GRPC_XDS_BOOTSTRAP) for a proxyless workload, in the JSON shape
 * grpc-js-xds, grpc-go and grpc-java read. Channel credentials are insecure because the server
 * is the agent on a local address; certificates come from files the agent rotates.
 */
export function grpcBootstrap(input: GrpcBootstrapInput): Record<string, unknown> {
  return {
    xds_servers: [{ server_uri: input.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: [] }],
    // grpc-js-xds refuses a node without `locality`, so it is always present (possibly empty).
    node: bootstrapNode(input.workload),
    server_listener_resource_name_template: GRPC_SERVER_LISTENER_TEMPLATE,
    certificate_providers: {
      [GRPC_CERTIFICATE_PROVIDER_INSTANCE]: {
        plugin_name: 'file_watcher',
        config: {
          certificate_file: path.join(input.certDir, CERTIFICATE_FILE),
          private_key_file: path.join(input.certDir, PRIVATE_KEY_FILE),
          ca_certificate_file: path.join(input.certDir, CA_CERTIFICATE_FILE),
          refresh_interval: '1s',
        },
      },
    },
  };
}

/** The gRPC bootstrap as the JSON file the agent writes (`DIR/bootstrap.json`). */
export function grpcBootstrapJson(input: GrpcBootstrapInput): string {
  return `${JSON.stringify(grpcBootstrap(input), null, 2)}\n`;
}
