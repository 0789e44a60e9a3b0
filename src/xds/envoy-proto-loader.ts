import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

/**
 * Envoy's data-plane API, cncf/xds, googleapis and protoc-gen-validate protos, as shipped under
 * `deps/` by @grpc/grpc-js-xds. They are loaded at start-up, never copied into this repository.
 */
export function protoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const pkg = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  const deps = path.join(pkg, 'deps');
  return [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    // google/protobuf/descriptor.proto and friends, which protobufjs ships beside its sources.
    path.dirname(require.resolve('protobufjs/package.json')),
  ].filter((dir) => existsSync(dir));
}

/** The proto files whose messages Accord produces or consumes. Their imports load transitively. */
export const ENVOY_PROTO_FILES: readonly string[] = [
  'envoy/service/discovery/v3/ads.proto',
  'envoy/service/discovery/v3/discovery.proto',
  'envoy/service/listener/v3/lds.proto',
  'envoy/service/cluster/v3/cds.proto',
  'envoy/service/endpoint/v3/eds.proto',
  'envoy/service/route/v3/rds.proto',
  'envoy/service/secret/v3/sds.proto',
  'envoy/service/status/v3/csds.proto',
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/config/rbac/v3/rbac.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/retry/priority/previous_priorities/v3/previous_priorities_config.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'envoy/admin/v3/config_dump.proto',
  'envoy/admin/v3/config_dump_shared.proto',
  'envoy/type/matcher/v3/string.proto',
];

/**
 * Loads the Envoy protos into one protobufjs Root. Field names keep their proto spelling
 * (snake_case) so resources can be written exactly as Envoy's documentation shows them.
 */
export function loadEnvoyProtos(extraFiles: readonly string[] = []): protobuf.Root {
  const includeDirs = protoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target) && existsSync(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...ENVOY_PROTO_FILES, ...extraFiles], { keepCase: true, alternateCommentMode: false });
  root.resolveAll();
  return root;
}
