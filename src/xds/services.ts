import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { TypeUrl } from './contract.js';

/**
 * gRPC service definitions whose messages stay raw bytes: requests are decoded by the sessions
 * (so a malformed one becomes INVALID_ARGUMENT, not a crash) and responses are written from
 * cached bytes without re-encoding.
 */
function rawMethod(path: string, requestStream: boolean, responseStream: boolean): MethodDefinition<Buffer, Buffer> {
  const identity = (value: Buffer): Buffer => value;
  return {
    path,
    requestStream,
    responseStream,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  };
}

export interface PerTypeService {
  readonly typeUrl: string;
  readonly service: string;
  readonly stream: string;
  readonly delta: string;
  readonly fetch: string;
}

export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
export const CSDS_SERVICE = 'envoy.service.status.v3.ClientStatusDiscoveryService';

export const PER_TYPE_SERVICES: readonly PerTypeService[] = [
  { typeUrl: TypeUrl.Listener, service: 'envoy.service.listener.v3.ListenerDiscoveryService', stream: 'StreamListeners', delta: 'DeltaListeners', fetch: 'FetchListeners' },
  { typeUrl: TypeUrl.Cluster, service: 'envoy.service.cluster.v3.ClusterDiscoveryService', stream: 'StreamClusters', delta: 'DeltaClusters', fetch: 'FetchClusters' },
  { typeUrl: TypeUrl.ClusterLoadAssignment, service: 'envoy.service.endpoint.v3.EndpointDiscoveryService', stream: 'StreamEndpoints', delta: 'DeltaEndpoints', fetch: 'FetchEndpoints' },
  { typeUrl: TypeUrl.RouteConfiguration, service: 'envoy.service.route.v3.RouteDiscoveryService', stream: 'StreamRoutes', delta: 'DeltaRoutes', fetch: 'FetchRoutes' },
  { typeUrl: TypeUrl.Secret, service: 'envoy.service.secret.v3.SecretDiscoveryService', stream: 'StreamSecrets', delta: 'DeltaSecrets', fetch: 'FetchSecrets' },
];

export function adsDefinition(): ServiceDefinition {
  return {
    StreamAggregatedResources: rawMethod(`/${ADS_SERVICE}/StreamAggregatedResources`, true, true),
    DeltaAggregatedResources: rawMethod(`/${ADS_SERVICE}/DeltaAggregatedResources`, true, true),
  };
}

export function perTypeDefinition(service: PerTypeService): ServiceDefinition {
  return {
    [service.stream]: rawMethod(`/${service.service}/${service.stream}`, true, true),
    [service.delta]: rawMethod(`/${service.service}/${service.delta}`, true, true),
    [service.fetch]: rawMethod(`/${service.service}/${service.fetch}`, false, false),
  };
}

export function csdsDefinition(): ServiceDefinition {
  return {
    StreamClientStatus: rawMethod(`/${CSDS_SERVICE}/StreamClientStatus`, true, true),
    FetchClientStatus: rawMethod(`/${CSDS_SERVICE}/FetchClientStatus`, false, false),
  };
}
