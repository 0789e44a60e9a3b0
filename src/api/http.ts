import { timingSafeEqual, createHash } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { ApiError, toApiError } from './errors.js';

/** What the HTTP API needs from the rest of the control plane (defined here, by its consumer). */
export interface RegistryOperations {
  /** `created` is false when the same endpoint was registered already (its registration is replaced, its id kept). */
  register(body: unknown): Promise<{ id: string; spiffeId: string; token: string; created: boolean }>;
  listWorkloads(): Promise<readonly unknown[]>;
  deregister(id: string): Promise<void>;
  heartbeat(id: string): Promise<void>;
  listServices(): Promise<readonly unknown[]>;
}

/** A write of policy documents: a YAML stream as text, or documents already parsed from a JSON body. */
export interface PolicyWrite {
  readonly body: string | unknown;
  /** `apply`: create or update the given objects, keep the rest. `replace`: the given documents become the whole set. */
  readonly mode: 'apply' | 'replace';
  readonly dryRun: boolean;
  /** References to services nothing registered or named are allowed (else they are errors). */
  readonly allowUnknownTargets: boolean;
  /** Allow `replace` with an empty set (it deletes every policy). */
  readonly force: boolean;
  /** The body must be this one object (`PUT /v1/policies/{kind}/{namespace}/{name}`). */
  readonly only?: { readonly kind: string; readonly namespace: string; readonly name: string };
}

export interface PolicyRemoval {
  /** `{kind, namespace, name}` of each object to delete; validated by the service. */
  readonly keys: unknown;
  readonly dryRun: boolean;
  /** Objects not in force are skipped instead of failing the request. */
  readonly ignoreMissing: boolean;
}

export interface PolicyOperations {
  /** Validates the whole resulting set and applies it all or nothing (or, with dryRun, diffs it). */
  apply(input: PolicyWrite): Promise<unknown>;
  remove(input: PolicyRemoval): Promise<unknown>;
  list(): Promise<unknown>;
  get(key: { kind: string; namespace: string; name: string }): Promise<unknown>;
}

export interface CaOperations {
  bundlePem(): string;
  status(): unknown;
  rotate(): Promise<unknown>;
  revoke(target: { serial?: string; workload?: string }): Promise<unknown>;
  /** Signs an agent's CSR for the workload its bearer token identifies. */
  signCsr(workloadToken: string, csrPem: string): Promise<unknown>;
  /** The trust bundle for the agent's workload, and whether it must re-issue its certificate now. */
  agentBundle(workloadToken: string): Promise<{ caBundlePem: string; reissue: boolean }>;
}

export interface BootstrapOperations {
  bootstrap(workloadId: string, format: 'envoy' | 'grpc', options: Record<string, string>): Promise<{ contentType: string; body: string }>;
}

export interface HealthOperations {
  live(): boolean;
  readiness(): { ready: boolean; checks: Record<string, { ok: boolean; detail?: unknown }> };
  proxies(): readonly unknown[];
}

export interface HttpApiDeps {
  readonly logger: Logger;
  readonly metrics: Registry;
  /** Operator token required as `Authorization: Bearer` on mutating calls. */
  readonly apiToken: string;
  readonly registry: RegistryOperations;
  readonly policies: PolicyOperations;
  readonly ca: CaOperations;
  readonly bootstrap: BootstrapOperations;
  readonly health: HealthOperations;
  readonly bodyLimitBytes?: number;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Builds the HTTP API without listening, so tests can call `inject()`. */
export function buildHttpApi(deps: HttpApiDeps): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: deps.bodyLimitBytes ?? 4 * 1024 * 1024,
    return503OnClosing: true,
  });
  const log = deps.logger.child({ component: 'http' });
  const expected = digest(deps.apiToken);

  const requireOperator = async (request: FastifyRequest): Promise<void> => {
    const token = bearer(request);
    if (!token) throw new ApiError('UNAUTHENTICATED', 'missing operator token: send "Authorization: Bearer <token>"');
    if (!timingSafeEqual(digest(token), expected)) {
      log.warn({ method: request.method, url: request.url, reason: 'operator token mismatch' }, 'request denied');
      throw new ApiError('PERMISSION_DENIED', 'operator token not accepted');
    }
  };

  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    let apiError: ApiError;
    const fastifyError = error as { statusCode?: number; code?: string; message?: string };
    if (error instanceof ApiError) apiError = error;
    else if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') apiError = new ApiError('PAYLOAD_TOO_LARGE', 'request body too large');
    else if (fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') apiError = new ApiError('UNSUPPORTED_MEDIA_TYPE', fastifyError.message ?? 'unsupported content type');
    else if (fastifyError.statusCode === 400) apiError = new ApiError('INVALID_ARGUMENT', fastifyError.message ?? 'bad request');
    else apiError = toApiError(error);
    if (apiError.code === 'INTERNAL') log.error({ err: error, method: request.method, url: request.url }, 'request failed');
    else log.info({ method: request.method, url: request.url, code: apiError.code, message: apiError.message }, 'request rejected');
    void reply.status(apiError.status).send(apiError.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new ApiError('NOT_FOUND', `no route ${request.method} ${request.url}`).toJSON());
  });

  app.get('/healthz', async (_request, reply) => {
    const live = deps.health.live();
    return reply.status(live ? 200 : 503).send({ status: live ? 'ok' : 'failing' });
  });

  app.get('/readyz', async (_request, reply) => {
    const readiness = deps.health.readiness();
    return reply.status(readiness.ready ? 200 : 503).send(readiness);
  });

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.metrics();
    return reply.header('content-type', deps.metrics.contentType).send(body);
  });

  app.post('/v1/workloads', { preHandler: requireOperator }, async (request, reply) => {
    const result = await deps.registry.register(request.body);
    return reply.status(result.created ? 201 : 200).send(result);
  });
  app.get('/v1/workloads', async () => ({ workloads: await deps.registry.listWorkloads() }));
  app.delete<{ Params: { id: string } }>('/v1/workloads/:id', { preHandler: requireOperator }, async (request, reply) => {
    await deps.registry.deregister(request.params.id);
    return reply.status(204).send();
  });
  app.put<{ Params: { id: string } }>('/v1/workloads/:id/heartbeat', { preHandler: requireOperator }, async (request, reply) => {
    await deps.registry.heartbeat(request.params.id);
    return reply.status(204).send();
  });
  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/v1/workloads/:id/bootstrap',
    { preHandler: requireOperator },
    async (request, reply) => {
      const { format = 'envoy', ...options } = request.query;
      if (format !== 'envoy' && format !== 'grpc') {
        throw new ApiError('INVALID_ARGUMENT', 'format must be "envoy" or "grpc"', [{ field: 'format', message: `got "${format}"` }]);
      }
      const result = await deps.bootstrap.bootstrap(request.params.id, format, options);
      return reply.header('content-type', result.contentType).send(result.body);
    },
  );
  app.get('/v1/services', async () => ({ services: await deps.registry.listServices() }));

  const flag = (value: string | undefined): boolean => value === 'true' || value === '1';
  /** YAML (text) or JSON (parsed) bodies; anything else is refused. */
  const policyBody = (request: FastifyRequest): unknown => {
    const contentType = String(request.headers['content-type'] ?? '');
    if (!contentType.startsWith('application/json') && typeof request.body !== 'string') {
      throw new ApiError('UNSUPPORTED_MEDIA_TYPE', 'send policies as application/yaml or a JSON array as application/json');
    }
    return request.body;
  };
  type PolicyQuery = { Querystring: { dryRun?: string; allowUnknownTargets?: string; force?: string; ignoreMissing?: string } };
  type PolicyPath = { Params: { kind: string; namespace: string; name: string } };
  const writeOptions = (query: PolicyQuery['Querystring']): Pick<PolicyWrite, 'dryRun' | 'allowUnknownTargets' | 'force'> => ({
    dryRun: flag(query.dryRun),
    allowUnknownTargets: flag(query.allowUnknownTargets),
    force: flag(query.force),
  });

  // The whole set: what `accord apply --prune` and `serve --config DIR` mean.
  app.put<PolicyQuery>('/v1/policies', { preHandler: requireOperator }, async (request) =>
    deps.policies.apply({ body: policyBody(request), mode: 'replace', ...writeOptions(request.query) }),
  );
  // Per object, like `kubectl apply`: create or update the given documents, keep every other one.
  app.post<PolicyQuery>('/v1/policies::apply', { preHandler: requireOperator }, async (request) =>
    deps.policies.apply({ body: policyBody(request), mode: 'apply', ...writeOptions(request.query) }),
  );
  app.post<PolicyQuery & { Body: { policies?: unknown } }>('/v1/policies::delete', { preHandler: requireOperator }, async (request) =>
    deps.policies.remove({ keys: request.body?.policies, dryRun: flag(request.query.dryRun), ignoreMissing: flag(request.query.ignoreMissing) }),
  );
  app.get('/v1/policies', async () => deps.policies.list());
  app.get<PolicyPath>('/v1/policies/:kind/:namespace/:name', async (request) => deps.policies.get(request.params));
  app.put<PolicyPath & PolicyQuery>('/v1/policies/:kind/:namespace/:name', { preHandler: requireOperator }, async (request) =>
    deps.policies.apply({ body: policyBody(request), mode: 'apply', only: request.params, ...writeOptions(request.query) }),
  );
  app.delete<PolicyPath & PolicyQuery>('/v1/policies/:kind/:namespace/:name', { preHandler: requireOperator }, async (request) =>
    deps.policies.remove({ keys: [request.params], dryRun: flag(request.query.dryRun), ignoreMissing: flag(request.query.ignoreMissing) }),
  );

  app.get('/v1/proxies', async () => ({ proxies: deps.health.proxies() }));

  app.get('/v1/ca/bundle', async (_request, reply) => reply.header('content-type', 'application/x-pem-file').send(deps.ca.bundlePem()));
  app.get('/v1/ca', async () => deps.ca.status());
  app.post('/v1/ca/rotate', { preHandler: requireOperator }, async () => deps.ca.rotate());
  app.post<{ Body: { serial?: unknown; workload?: unknown } }>('/v1/ca/revoke', { preHandler: requireOperator }, async (request) => {
    const body = request.body ?? {};
    const serial = typeof body.serial === 'string' ? body.serial : undefined;
    const workload = typeof body.workload === 'string' ? body.workload : undefined;
    if ((serial === undefined) === (workload === undefined)) {
      throw new ApiError('INVALID_ARGUMENT', 'give exactly one of "serial" or "workload"', [{ field: 'serial|workload', message: 'exactly one is required' }]);
    }
    return deps.ca.revoke({ serial, workload });
  });

  // Agents authenticate with their workload token, not the operator token.
  app.post<{ Body: { csr?: unknown } }>('/v1/agent/certificate', async (request) => {
    const token = bearer(request);
    if (!token) throw new ApiError('UNAUTHENTICATED', 'missing workload token');
    const csr = request.body?.csr;
    if (typeof csr !== 'string' || !csr.includes('BEGIN CERTIFICATE REQUEST')) {
      throw new ApiError('INVALID_ARGUMENT', 'body.csr must be a PEM certificate request', [{ field: 'csr', message: 'expected a PEM CSR' }]);
    }
    return deps.ca.signCsr(token, csr);
  });
  app.get('/v1/agent/bundle', async (request) => {
    const token = bearer(request);
    if (!token) throw new ApiError('UNAUTHENTICATED', 'missing workload token');
    return deps.ca.agentBundle(token);
  });

  return app;
}
