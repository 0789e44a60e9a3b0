import { timingSafeEqual, createHash } from 'node:crypto';
import type { CaBackup } from '../identity/ca-continuity.js';
import type { AgentTokenRenewal, CaStatusView, RotationStatus, SignedCertificate, TokenKeyStatus } from '../identity/ca-api.js';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Registry } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { ApiError, toApiError, type ApiErrorCode } from './errors.js';
import { OperatorTokens } from './operator-tokens.js';
import { registerDashboard, type DashboardAssets } from './dashboard.js';

/** What the HTTP API needs from the rest of the control plane (defined here, by its consumer). */
export interface RegistryOperations {
  /** `created` is false when the same endpoint was registered already (its registration is replaced, its id kept). */
  register(body: unknown): Promise<{ id: string; spiffeId: string; token: string; created: boolean }>;
  listWorkloads(): Promise<readonly unknown[]>;
  deregister(id: string): Promise<void>;
  heartbeat(id: string): Promise<void>;
  listServices(): Promise<readonly unknown[]>;
  /** A workload registers itself again with its own token (it went missing): same id and identity, or refused. */
  reregister(workloadToken: string, body: unknown): Promise<{ id: string; spiffeId: string; created: boolean }>;
  /** The namespace of a registered workload (undefined: not registered). */
  workloadNamespace(id: string): Promise<string | undefined>;
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
  status(): CaStatusView;
  rotate(): Promise<RotationStatus>;
  /** Returns to the old root (P1, P2); refused from P3 on. */
  abortRotation(): Promise<RotationStatus>;
  /** Removes one workload's proxies from every gate of the rotation under way. */
  fence(workload: string): Promise<RotationStatus>;
  revoke(target: { serial?: string; workload?: string }): Promise<{ revoked: string[]; crlPublished: true }>;
  /** Signs an agent's CSR for the workload its bearer token identifies. */
  signCsr(workloadToken: string, csrPem: string): Promise<SignedCertificate>;
  /** The trust bundle for the agent's workload, and whether it must re-issue its certificate now. */
  agentBundle(workloadToken: string): Promise<{ caBundlePem: string; reissue: boolean }>;
  /** A new workload token for the workload the bearer token identifies. */
  renewToken(workloadToken: string): Promise<AgentTokenRenewal>;
  /** Puts one workload token (by id) on the deny-list every replica checks. */
  denyToken(tokenId: string): Promise<{ tokenId: string; deniedUntil: string }>;
  /** A new workload-token signing key; the previous one verifies for one token lifetime more. */
  rotateTokenKey(): Promise<TokenKeyStatus>;
  /** Ends the previous workload-token key now. */
  retireTokenKey(): Promise<TokenKeyStatus>;
  /** The CA material sealed with the KEK. */
  backup(): CaBackup;
  /** Puts a sealed backup of the served root back into a store that lost it. */
  restore(backup: unknown): Promise<{ restored: boolean; rootFingerprint: string }>;
}

export interface BootstrapOperations {
  bootstrap(workloadId: string, format: 'envoy' | 'grpc', options: Record<string, string>): Promise<{ contentType: string; body: string }>;
}

export interface HealthOperations {
  /** Liveness: is this process still making progress (a restart would help otherwise)? */
  live(): { live: boolean; checks: Record<string, { ok: boolean; detail?: unknown }> };
  /** `checks[*].detail` is for operators only (`GET /v1/status`); `/readyz` shows just `ok`. */
  readiness(): { ready: boolean; checks: Record<string, { ok: boolean; detail?: unknown }> };
  proxies(): readonly unknown[];
}

/** Connected proxies across every replica (`accord status`). */
export interface ProxyStatusOperations {
  fleet(): Promise<unknown>;
}

/** `accord describe`: one workload or service as the mesh in force sees it. */
export interface DescribeOperations {
  describe(target: string, namespace?: string): Promise<unknown>;
}

export interface HttpApiDeps {
  readonly logger: Logger;
  readonly metrics: Registry;
  /** Operator token(s) required as `Authorization: Bearer` on every `/v1` call but the agent's own. */
  readonly apiToken: string | OperatorTokens;
  /** Optional read-only operator token: accepted on `/v1` reads, refused on changes. */
  readonly apiReadToken?: string;
  /** Per-namespace registration tokens: register, renew, deregister and bootstrap in their namespace only. */
  readonly registrationTokens?: { namespaceOf(token: string): string | undefined };
  /** Serve HTTPS with these (PEM); the caller may replace them later through `server.setSecureContext`. */
  readonly https?: { readonly certChainPem: string; readonly keyPem: string };
  readonly registry: RegistryOperations;
  readonly policies: PolicyOperations;
  readonly ca: CaOperations;
  readonly bootstrap: BootstrapOperations;
  readonly health: HealthOperations;
  readonly proxyStatus?: ProxyStatusOperations;
  readonly describe?: DescribeOperations;
  readonly bodyLimitBytes?: number;
  /** The web dashboard's files, served open at `/ui` (its data calls are `/v1` calls like any other). */
  readonly dashboard?: DashboardAssets;
}

/** Client-supplied strings in logs are cut to this many characters. */
const LOGGED_TEXT_LIMIT = 200;

function truncate(text: string): string {
  return text.length > LOGGED_TEXT_LIMIT ? `${text.slice(0, LOGGED_TEXT_LIMIT)}…(${text.length} chars)` : text;
}

/** Fastify's own 4xx errors by status, for requests that fail before a handler runs. */
const FRAMEWORK_STATUS: Readonly<Record<number, ApiErrorCode>> = {
  400: 'INVALID_ARGUMENT',
  404: 'NOT_FOUND',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
};

/** Any error at the HTTP edge as an ApiError: domain codes through the catalog, framework 4xx by status. */
function edgeError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  const mapped = toApiError(error);
  if (mapped.code !== 'INTERNAL') return mapped;
  const framework = error as { statusCode?: unknown; code?: unknown; message?: unknown };
  const status = typeof framework.statusCode === 'number' ? framework.statusCode : 0;
  if (typeof framework.code === 'string' && framework.code.startsWith('FST_') && status >= 400 && status < 500) {
    const message = typeof framework.message === 'string' ? framework.message : 'bad request';
    return new ApiError(FRAMEWORK_STATUS[status] ?? 'INVALID_ARGUMENT', message);
  }
  return mapped;
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

export interface RouteEntry {
  readonly method: string;
  readonly url: string;
}

const ROUTES_DECORATION = 'accordRoutes';

/** Every route the API registered (HEAD included), as fastify saw them: for tests that must cover them all. */
export function registeredRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return (app as unknown as Record<typeof ROUTES_DECORATION, readonly RouteEntry[]>)[ROUTES_DECORATION];
}

/**
 * Requests Node's HTTP parser refuses before fastify sees them (malformed request lines, headers
 * over 16 KB) still get the API's JSON error shape.
 */
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const [status, apiError] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, new ApiError('PAYLOAD_TOO_LARGE', 'request headers are larger than 16 KB')]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, new ApiError('INVALID_ARGUMENT', 'request not completed in time')]
        : [400, new ApiError('INVALID_ARGUMENT', 'malformed HTTP request')];
  const body = JSON.stringify(apiError.toJSON());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A caller-supplied string field: absent, or a string of at most `max` characters. */
function boundedString(value: unknown, field: string, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ApiError('INVALID_ARGUMENT', `${field} must be a string`, [{ field, message: `got ${typeof value}` }]);
  if (value.length > max) throw new ApiError('INVALID_ARGUMENT', `${field} is too long`, [{ field, message: `at most ${max} characters` }]);
  return value;
}

/** Builds the HTTP API without listening, so tests can call `inject()`. */
export function buildHttpApi(deps: HttpApiDeps): FastifyInstance {
  const options = {
    logger: false,
    bodyLimit: deps.bodyLimitBytes ?? 4 * 1024 * 1024,
    return503OnClosing: true,
    clientErrorHandler,
    // Bad URLs and over-long path parameters are refused by the router, before any handler.
    frameworkErrors: (error: Error, _request: FastifyRequest, reply: FastifyReply) => {
      void reply.status(400).send(new ApiError('INVALID_ARGUMENT', truncate(error.message)).toJSON());
    },
  } as const;
  const app = (
    deps.https ? Fastify({ ...options, https: { cert: deps.https.certChainPem, key: deps.https.keyPem } }) : Fastify(options)
  ) as unknown as FastifyInstance;
  const log = deps.logger.child({ component: 'http' });
  const routes: RouteEntry[] = [];
  app.decorate(ROUTES_DECORATION, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url });
  });
  const operator = typeof deps.apiToken === 'string' ? new OperatorTokens([deps.apiToken]) : deps.apiToken;
  const reader = deps.apiReadToken ? digest(deps.apiReadToken) : undefined;

  const denied = (request: FastifyRequest, reason: string): void => {
    log.warn({ method: request.method, url: truncate(request.url), reason }, 'request denied');
  };
  /** Which operator credential the request carries; throws 401 without one, 403 for a wrong one. */
  const operatorRole = (request: FastifyRequest): 'operator' | 'reader' => {
    const token = bearer(request);
    if (!token) {
      denied(request, 'no operator token');
      throw new ApiError('UNAUTHENTICATED', 'missing operator token: send "Authorization: Bearer <token>"');
    }
    if (operator.accepts(token)) return 'operator';
    if (reader && timingSafeEqual(digest(token), reader)) return 'reader';
    denied(request, 'operator token mismatch');
    throw new ApiError('PERMISSION_DENIED', 'operator token not accepted');
  };
  const requireOperator = async (request: FastifyRequest): Promise<void> => {
    if (operatorRole(request) === 'reader') {
      denied(request, 'read-only token used for a change');
      throw new ApiError('PERMISSION_DENIED', 'the read-only operator token cannot change anything; use the operator token');
    }
  };
  const requireReader = async (request: FastifyRequest): Promise<void> => {
    operatorRole(request);
  };
  /** The namespace a registration-token caller is confined to; operators are in none of these. */
  const registrarScope = new WeakMap<FastifyRequest, string>();
  const requireRegistrar = async (request: FastifyRequest): Promise<void> => {
    const token = bearer(request);
    const namespace = token ? deps.registrationTokens?.namespaceOf(token) : undefined;
    if (namespace !== undefined) registrarScope.set(request, namespace);
    else await requireOperator(request);
  };
  /** A registration token acts on its own namespace only; an unknown workload is refused alike (no existence leak). */
  const assertInScope = (request: FastifyRequest, namespace: string | undefined): void => {
    const scope = registrarScope.get(request);
    if (scope === undefined || namespace === scope) return;
    denied(request, `registration token of namespace "${scope}" used outside it`);
    throw new ApiError('PERMISSION_DENIED', `a registration token of namespace "${scope}" acts only on workloads of that namespace`);
  };
  const registrationNamespace = (body: unknown): string | undefined => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
    const namespace = (body as { namespace?: unknown }).namespace;
    return namespace === undefined ? 'default' : typeof namespace === 'string' ? namespace : undefined;
  };
  const workloadToken = (request: FastifyRequest): string => {
    const token = bearer(request);
    if (!token) {
      denied(request, 'no workload token');
      throw new ApiError('UNAUTHENTICATED', 'missing workload token: send "Authorization: Bearer <workload token>"');
    }
    return token;
  };

  app.addContentTypeParser(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    done(null, body);
  });

  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const apiError = edgeError(error);
    if (apiError.code === 'INTERNAL') log.error({ err: error, method: request.method, url: truncate(request.url) }, 'request failed');
    else log.info({ method: request.method, url: truncate(request.url), code: apiError.code, message: truncate(apiError.message) }, 'request rejected');
    if (apiError.retryAfterMs !== undefined) void reply.header('retry-after', String(Math.max(1, Math.ceil(apiError.retryAfterMs / 1000))));
    void reply.status(apiError.status).send(apiError.toJSON());
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(new ApiError('NOT_FOUND', `no route ${request.method} ${request.url}`).toJSON());
  });

  app.get('/healthz', async (_request, reply) => {
    const { live, checks } = deps.health.live();
    return reply.status(live ? 200 : 503).send({ status: live ? 'ok' : 'failing', checks });
  });

  // Open for probes: ready or not, and which check fails. The details (policy errors, revisions) are operators' (`/v1/status`).
  app.get('/readyz', async (_request, reply) => {
    const readiness = deps.health.readiness();
    const checks = Object.fromEntries(Object.entries(readiness.checks).map(([name, check]) => [name, { ok: check.ok }]));
    return reply.status(readiness.ready ? 200 : 503).send({ ready: readiness.ready, checks });
  });
  app.get('/v1/status', { preHandler: requireReader }, async () => deps.health.readiness());

  if (deps.dashboard) registerDashboard(app, deps.dashboard);

  app.get('/metrics', async (_request, reply) => {
    const body = await deps.metrics.metrics();
    return reply.header('content-type', deps.metrics.contentType).send(body);
  });

  app.post('/v1/workloads', { preHandler: requireRegistrar }, async (request, reply) => {
    assertInScope(request, registrationNamespace(request.body));
    const result = await deps.registry.register(request.body);
    return reply.status(result.created ? 201 : 200).send(result);
  });
  app.get('/v1/workloads', { preHandler: requireReader }, async () => ({ workloads: await deps.registry.listWorkloads() }));
  app.delete<{ Params: { id: string } }>('/v1/workloads/:id', { preHandler: requireRegistrar }, async (request, reply) => {
    if (registrarScope.has(request)) assertInScope(request, await deps.registry.workloadNamespace(request.params.id));
    await deps.registry.deregister(request.params.id);
    return reply.status(204).send();
  });
  app.put<{ Params: { id: string } }>('/v1/workloads/:id/heartbeat', { preHandler: requireRegistrar }, async (request, reply) => {
    if (registrarScope.has(request)) assertInScope(request, await deps.registry.workloadNamespace(request.params.id));
    await deps.registry.heartbeat(request.params.id);
    return reply.status(204).send();
  });
  app.get<{ Params: { id: string }; Querystring: Record<string, string> }>(
    '/v1/workloads/:id/bootstrap',
    { preHandler: requireRegistrar },
    async (request, reply) => {
      if (registrarScope.has(request)) assertInScope(request, await deps.registry.workloadNamespace(request.params.id));
      const { format = 'envoy', ...options } = request.query;
      if (format !== 'envoy' && format !== 'grpc') {
        throw new ApiError('INVALID_ARGUMENT', 'format must be "envoy" or "grpc"', [{ field: 'format', message: `got "${format}"` }]);
      }
      const result = await deps.bootstrap.bootstrap(request.params.id, format, options);
      return reply.header('content-type', result.contentType).send(result.body);
    },
  );
  const proxyStatus = deps.proxyStatus;
  if (proxyStatus) app.get('/v1/proxy-status', { preHandler: requireReader }, async () => proxyStatus.fleet());
  const describe = deps.describe;
  if (describe) {
    app.get<{ Params: { id: string }; Querystring: { namespace?: string } }>('/v1/describe/:id', { preHandler: requireReader }, async (request) =>
      describe.describe(request.params.id, boundedString(request.query.namespace, 'namespace', 63)),
    );
  }
  app.get('/v1/services', { preHandler: requireReader }, async () => ({ services: await deps.registry.listServices() }));

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
  app.get('/v1/policies', { preHandler: requireReader }, async () => deps.policies.list());
  app.get<PolicyPath>('/v1/policies/:kind/:namespace/:name', { preHandler: requireReader }, async (request) => deps.policies.get(request.params));
  app.put<PolicyPath & PolicyQuery>('/v1/policies/:kind/:namespace/:name', { preHandler: requireOperator }, async (request) =>
    deps.policies.apply({ body: policyBody(request), mode: 'apply', only: request.params, ...writeOptions(request.query) }),
  );
  app.delete<PolicyPath & PolicyQuery>('/v1/policies/:kind/:namespace/:name', { preHandler: requireOperator }, async (request) =>
    deps.policies.remove({ keys: [request.params], dryRun: flag(request.query.dryRun), ignoreMissing: flag(request.query.ignoreMissing) }),
  );

  app.get('/v1/proxies', { preHandler: requireReader }, async () => ({ proxies: deps.health.proxies() }));

  // Open: trust anchors are public, and a bootstrap needs them before it holds any credential
  // (docs/decisions/0010-open-trust-bundle.md).
  app.get('/v1/ca/bundle', async (_request, reply) => reply.header('content-type', 'application/x-pem-file').send(deps.ca.bundlePem()));
  app.get('/v1/ca', { preHandler: requireReader }, async () => deps.ca.status());
  app.post('/v1/ca/rotate', { preHandler: requireOperator }, async () => deps.ca.rotate());
  app.post('/v1/ca/token-key/rotate', { preHandler: requireOperator }, async () => deps.ca.rotateTokenKey());
  app.post('/v1/ca/token-key/retire', { preHandler: requireOperator }, async () => deps.ca.retireTokenKey());
  // Sealed with the KEK: never plain keys, and still only for the operator.
  app.get('/v1/ca/backup', { preHandler: requireOperator }, async () => deps.ca.backup());
  app.post<{ Body: { backup?: unknown } }>('/v1/ca/restore', { preHandler: requireOperator }, async (request) => {
    const backup = request.body?.backup;
    if (backup === undefined || backup === null || typeof backup !== 'object') {
      throw new ApiError('INVALID_ARGUMENT', 'backup (the JSON accord ca backup wrote) is required', [{ field: 'backup', message: 'required' }]);
    }
    return deps.ca.restore(backup);
  });
  app.post<{ Body: { serial?: unknown; workload?: unknown } }>('/v1/ca/revoke', { preHandler: requireOperator }, async (request) => {
    const body = request.body ?? {};
    const serial = boundedString(body.serial, 'serial', 128);
    const workload = boundedString(body.workload, 'workload', 128);
    if ((serial === undefined) === (workload === undefined)) {
      throw new ApiError('INVALID_ARGUMENT', 'give exactly one of "serial" or "workload"', [{ field: 'serial|workload', message: 'exactly one is required' }]);
    }
    return deps.ca.revoke({ serial, workload });
  });
  app.post('/v1/ca/rotate/abort', { preHandler: requireOperator }, async () => deps.ca.abortRotation());
  app.post<{ Body: { workload?: unknown } }>('/v1/ca/fence', { preHandler: requireOperator }, async (request) => {
    const workload = boundedString((request.body as { workload?: unknown } | undefined)?.workload, 'workload', 253);
    if (workload === undefined || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(workload)) {
      throw new ApiError('INVALID_ARGUMENT', 'workload must be a workload id', [{ field: 'workload', message: 'a workload id, e.g. payments-7f3k2' }]);
    }
    return deps.ca.fence(workload);
  });

  app.post<{ Body: { tokenId?: unknown } }>('/v1/tokens/deny', { preHandler: requireOperator }, async (request) => {
    const tokenId = boundedString(request.body?.tokenId, 'tokenId', 128);
    if (tokenId === undefined) throw new ApiError('INVALID_ARGUMENT', 'tokenId is required', [{ field: 'tokenId', message: 'required' }]);
    return deps.ca.denyToken(tokenId);
  });

  // Agents authenticate with their workload token, not the operator token, and reach only their own workload.
  app.post<{ Body: { csr?: unknown } }>('/v1/agent/certificate', async (request) => {
    const token = workloadToken(request);
    const csr = request.body?.csr;
    // Only the shape here: the CA reads the CSR after the token has been checked.
    if (typeof csr !== 'string') {
      throw new ApiError('INVALID_ARGUMENT', 'body.csr must be a PEM certificate request', [{ field: 'csr', message: 'expected a PEM CSR' }]);
    }
    return deps.ca.signCsr(token, csr);
  });
  app.get('/v1/agent/bundle', async (request) => deps.ca.agentBundle(workloadToken(request)));
  app.post('/v1/agent/token', async (request) => deps.ca.renewToken(workloadToken(request)));
  app.post('/v1/agent/register', async (request, reply) => {
    const result = await deps.registry.reregister(workloadToken(request), request.body);
    return reply.code(result.created ? 201 : 200).send(result);
  });

  return app;
}
