import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from '../observability/logger.js';
import { ApiError, toApiError } from './errors.js';
import { OperatorTokenCheck } from './operator-token.js';
import type { OperatorTokens } from './operator-tokens.js';
import type { RegistryOperations } from './http.js';

/** Path of protos/accord/v1/registry.proto, from both src/ (tests) and dist/src/ (built). */
export function registryProtoPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [path.resolve(here, '../../protos'), path.resolve(here, '../../../protos')].map((dir) =>
    path.join(dir, 'accord/v1/registry.proto'),
  );
  return candidates.find((file) => existsSync(file)) ?? (candidates[0] as string);
}

export function loadRegistryService(): grpc.ServiceDefinition {
  const definition = protoLoader.loadSync(registryProtoPath(), { keepCase: true, longs: Number, enums: String, defaults: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    accord: { v1: { Registry: { service: grpc.ServiceDefinition } } };
  };
  return pkg.accord.v1.Registry.service;
}


type Message = Record<string, unknown>;

function nonEmpty<T>(value: T | undefined | null | '' | 0): value is T {
  return value !== undefined && value !== null && value !== '' && value !== 0;
}

/** RegisterRequest (proto field names) → the HTTP registration body (docs/registry.md). */
export function registrationFromProto(request: Message): Record<string, unknown> {
  const body: Record<string, unknown> = { service: request.service, address: request.address, port: request.port };
  if (nonEmpty(request.namespace)) body.namespace = request.namespace;
  if (nonEmpty(request.service_account)) body.serviceAccount = request.service_account;
  if (nonEmpty(request.protocol)) body.protocol = request.protocol;
  if (nonEmpty(request.mesh_port)) body.meshPort = request.mesh_port;
  const labels = request.labels as Record<string, string> | undefined;
  if (labels && Object.keys(labels).length > 0) body.labels = labels;
  const locality = request.locality as { region?: string; zone?: string } | null | undefined;
  if (locality && (locality.region || locality.zone)) {
    body.locality = { ...(locality.region ? { region: locality.region } : {}), ...(locality.zone ? { zone: locality.zone } : {}) };
  }
  if (nonEmpty(request.ttl)) body.ttl = request.ttl;
  const upstreams = request.upstreams as { service: string; namespace?: string; local_port: number }[] | undefined;
  if (upstreams && upstreams.length > 0) {
    body.upstreams = upstreams.map((u) => ({ service: u.service, ...(u.namespace ? { namespace: u.namespace } : {}), localPort: u.local_port }));
  }
  return body;
}

function workloadToProto(workload: Message): Message {
  return {
    id: workload.id,
    service: workload.service,
    namespace: workload.namespace,
    service_account: workload.serviceAccount,
    address: workload.address,
    port: workload.port,
    mesh_port: workload.meshPort,
    protocol: workload.protocol,
    labels: workload.labels,
    locality: workload.locality,
    health: workload.health,
    upstreams: ((workload.upstreams as Message[] | undefined) ?? []).map((u) => ({
      service: u.service,
      namespace: u.namespace,
      local_port: u.localPort,
    })),
    lease_ms: workload.leaseMs ?? 0,
  };
}

export interface GrpcRegistryDeps {
  readonly registry: RegistryOperations;
  readonly apiToken: string | OperatorTokens;
  readonly logger: Logger;
}

/**
 * Adds `accord.v1.Registry` to a gRPC server (the xDS server's, so it shares port 18000). Every
 * method, reads included, needs the operator token.
 */
export function addRegistryService(server: grpc.Server, deps: GrpcRegistryDeps): void {
  const log = deps.logger.child({ component: 'grpc-registry' });
  const operator = new OperatorTokenCheck(deps.apiToken);

  const authorize = (call: grpc.ServerUnaryCall<Message, Message>, method: string): void => {
    const refusal = operator.check(call.metadata.get('authorization'));
    if (!refusal) return;
    log.warn({ peer: call.getPeer(), method, code: refusal.code, reason: refusal.reason }, 'registry call denied');
    throw new ApiError(refusal.code, refusal.reason);
  };

  const unary =
    (method: string, handler: (request: Message) => Promise<Message>) =>
    (call: grpc.ServerUnaryCall<Message, Message>, callback: grpc.sendUnaryData<Message>): void => {
      const run = async (): Promise<Message> => {
        authorize(call, method);
        return handler(call.request);
      };
      run().then(
        (response) => callback(null, response),
        (error: unknown) => {
          const apiError = toApiError(error);
          if (apiError.code === 'INTERNAL') log.error({ err: error }, 'registry call failed');
          const details = apiError.details.length > 0 ? `${apiError.message}: ${JSON.stringify(apiError.details)}` : apiError.message;
          callback({ code: apiError.grpcStatus, details });
        },
      );
    };

  server.addService(loadRegistryService(), {
    Register: unary('Register', async (request) => {
      const result = await deps.registry.register(registrationFromProto(request));
      return { id: result.id, spiffe_id: result.spiffeId, token: result.token, created: result.created };
    }),
    ListWorkloads: unary('ListWorkloads', async () => ({
      workloads: (await deps.registry.listWorkloads()).map((w) => workloadToProto(w as Message)),
    })),
    Deregister: unary('Deregister', async (request) => {
      await deps.registry.deregister(String(request.id));
      return {};
    }),
    Heartbeat: unary('Heartbeat', async (request) => {
      await deps.registry.heartbeat(String(request.id));
      return {};
    }),
    ListServices: unary('ListServices', async () => ({ services: await deps.registry.listServices() })),
  });
}
