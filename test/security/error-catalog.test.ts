import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_ERROR_CODES, DOMAIN_CODES, EDGE_STATUS, OTHER_DOMAIN_ERROR_CODES, toApiError } from '../../src/api/errors.js';
import { buildHttpApi, type HttpApiDeps, type RegistryOperations } from '../../src/api/http.js';
import { addRegistryService, loadRegistryService } from '../../src/api/grpc-registry.js';
import { ISSUANCE_ERROR_CODES, IssuanceError } from '../../src/ca/errors.js';
import { SERVICE_ERROR_CODES, ServiceError } from '../../src/core/errors.js';
import { TOKEN_ERROR_CODES, TokenError } from '../../src/ca/tokens.js';
import { CaMaterialError } from '../../src/ca/material.js';
import { KekError } from '../../src/ca/envelope.js';
import { RotationPhaseError, TrustChangeError } from '../../src/ca/root-rotation-plan.js';
import { UnknownWorkloadError } from '../../src/mesh/types.js';
import { IssuanceRateLimitedError } from '../../src/identity/issuance-limiter.js';
import { REGISTRY_ERROR_CODES, ConflictError, NotFoundError, StoreUnavailableError, ValidationError, type RegistryErrorCode } from '../../src/registry/errors.js';
import { silentLogger } from '../../src/observability/logger.js';
import { createMetricsRegistry } from '../../src/observability/metrics.js';

/** One real instance of every error code every domain module can throw. */
function everyDomainError(): { module: string; code: string; error: Error }[] {
  const registry: Record<RegistryErrorCode, () => Error> = {
    NOT_FOUND: () => new NotFoundError('workload', 'w-1'),
    CONFLICT: () => new ConflictError('workload', 'w-1', 1, 2),
    STORE_UNAVAILABLE: () => new StoreUnavailableError('redis is down'),
    VALIDATION_FAILED: () => new ValidationError([{ field: 'port', message: 'must be 1-65535' }]),
  };
  const others: Record<(typeof OTHER_DOMAIN_ERROR_CODES)[number], () => Error> = {
    ROTATION_STATE_INVALID: () => new RotationPhaseError('P0_PREPARE', 'state: not valid JSON'),
    TRUST_CHANGE_REFUSED: () => new TrustChangeError('trust change would swap roots'),
    CA_MATERIAL_INVALID: () => new CaMaterialError('ca.json: not valid JSON'),
    KEK_INVALID: () => new KekError('envelope: authentication failed'),
    UNKNOWN_WORKLOAD: () => new UnknownWorkloadError('w-1'),
    RATE_LIMITED: () => new IssuanceRateLimitedError('w-1', 12_000, { burst: 5, refillMs: 20_000 }),
  };
  return [
    ...REGISTRY_ERROR_CODES.map((code) => ({ module: 'registry', code, error: registry[code]() })),
    ...ISSUANCE_ERROR_CODES.map((code) => ({ module: 'ca', code, error: new IssuanceError(code, 'csrPem', 'refused') })),
    ...TOKEN_ERROR_CODES.map((code) => ({ module: 'tokens', code, error: new TokenError(code, 'token: refused') })),
    ...OTHER_DOMAIN_ERROR_CODES.map((code) => ({ module: 'other', code, error: others[code]() })),
  ];
}

/**
 * Issue #9, item 13: every domain error code maps, in one table, to a 4xx (or 503 for the server's
 * own state) at both edges — never a 500 with a stack trace.
 */
describe('the error catalog: every domain error code at the HTTP and gRPC edges', () => {
  const errors = everyDomainError();

  it('lists every code each module declares, and each one has a mapping', () => {
    expect(errors.map((e) => e.code).sort()).toEqual(Object.keys(DOMAIN_CODES).sort());
    for (const { code, error } of errors) expect((error as Error & { code: string }).code, error.name).toBe(code);
    for (const code of API_ERROR_CODES) expect(EDGE_STATUS[code], code).toBeDefined();
  });

  it('maps every code an application service throws to the same code and its status at both edges', () => {
    for (const code of SERVICE_ERROR_CODES) {
      const api = toApiError(new ServiceError(code, `refused: ${code}`, [{ field: 'x', message: 'y' }], 1000));
      expect([api.code, api.status, api.grpcStatus, api.message, api.retryAfterMs], code).toEqual([code, EDGE_STATUS[code].http, EDGE_STATUS[code].grpc, `refused: ${code}`, 1000]);
      expect(api.toJSON().error.details).toEqual([{ field: 'x', message: 'y' }]);
    }
  });

  it('maps no domain error to INTERNAL / 500', () => {
    const table: string[] = [];
    for (const { module, code, error } of errors) {
      const api = toApiError(error);
      table.push(`${module}.${code} -> ${api.code} HTTP ${api.status} gRPC ${grpc.status[api.grpcStatus]}`);
      expect(api.code, code).not.toBe('INTERNAL');
      expect(api.status === 503 || (api.status >= 400 && api.status < 500), `${code}: ${api.status}`).toBe(true);
      expect([grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.OK]).not.toContain(api.grpcStatus);
      expect(api.message).toBe(error.message);
    }
    console.log(`error catalog (${table.length} domain codes):\n  ${table.join('\n  ')}`);
  });

  describe('through the real edges', () => {
    let thrown: Error = new Error('unset');
    const failing = async (): Promise<never> => {
      throw thrown;
    };
    const registry: RegistryOperations = { register: failing, listWorkloads: failing, deregister: failing, heartbeat: failing, listServices: failing, reregister: failing, workloadNamespace: failing };
    const deps = {
      logger: silentLogger(),
      metrics: createMetricsRegistry(),
      apiToken: 'op',
      registry,
    } as unknown as HttpApiDeps;
    const http = buildHttpApi(deps);
    const server = new grpc.Server();
    let client: grpc.Client & Record<string, (req: object, md: grpc.Metadata, cb: (e: grpc.ServiceError | null) => void) => void>;

    beforeAll(async () => {
      addRegistryService(server, { registry, apiToken: 'op', logger: silentLogger() });
      const port = await new Promise<number>((resolve, reject) =>
        server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
      );
      const Registry = grpc.makeGenericClientConstructor(loadRegistryService(), 'Registry');
      client = new Registry(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as typeof client;
    });
    afterAll(async () => {
      client.close();
      server.forceShutdown();
      await http.close();
    });

    it('HTTP answers each with its status and a JSON error; gRPC with its code', async () => {
      for (const { code, error } of errors) {
        thrown = error;
        const expected = toApiError(error);
        const answer = await http.inject({ method: 'DELETE', url: '/v1/workloads/w-1', headers: { authorization: 'Bearer op' } });
        expect(answer.statusCode, code).toBe(expected.status);
        expect(answer.json()).toMatchObject({ error: { code: expected.code, message: error.message } });
        const metadata = new grpc.Metadata();
        metadata.set('authorization', 'Bearer op');
        const status = await new Promise<grpc.ServiceError | null>((resolve) => client.Deregister({ id: 'w-1' }, metadata, resolve));
        expect(status?.code, code).toBe(expected.grpcStatus);
      }
    });
  });
});
