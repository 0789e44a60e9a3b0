export {
  envoyBootstrap,
  envoyBootstrapYaml,
  XDS_CLUSTER_NAME,
  ENVOY_ADMIN_ADDRESS,
  ENVOY_ADMIN_PORT,
  type EnvoyBootstrapInput,
} from './envoy.js';
export {
  grpcBootstrap,
  grpcBootstrapJson,
  GRPC_SERVER_LISTENER_TEMPLATE,
  GRPC_CERTIFICATE_PROVIDER_INSTANCE,
  CERTIFICATE_FILE,
  PRIVATE_KEY_FILE,
  CA_CERTIFICATE_FILE,
  type GrpcBootstrapInput,
} from './grpc.js';
export { parseHostPort, type HostPort } from './address.js';
export { bootstrapNode } from './node.js';
