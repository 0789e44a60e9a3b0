import path from 'node:path';
import { envoyBootstrapYaml, grpcBootstrap } from '../mesh/bootstrap/index.js';
import { ServiceError } from '../core/errors.js';
import type { BootstrapOperations } from '../api/http.js';
import type { RegistryService } from './registry-service.js';

export interface BootstrapServiceDeps {
  readonly registry: Pick<RegistryService, 'tokenFor'>;
  readonly identity: { xdsServerSpiffeId(): string };
  /** Where proxies reach this control plane's xDS port when the request names none (known after binding). */
  readonly defaultXdsAddress: () => string;
  /** `mesh-ca`: TLS with the control plane's SPIFFE identity (verified by SAN); `operator`: the operator's certificate. */
  readonly xdsTls: 'none' | 'mesh-ca' | 'operator';
}

/** `GET /v1/workloads/{id}/bootstrap`: a fresh workload token wrapped in the proxy's bootstrap. */
export class BootstrapService implements BootstrapOperations {
  constructor(private readonly deps: BootstrapServiceDeps) {}

  async bootstrap(workloadId: string, format: 'envoy' | 'grpc', query: Record<string, string>): Promise<{ contentType: string; body: string }> {
    // Proxies resolve relative paths against wherever they happen to run: only absolute ones are safe.
    for (const field of ['certDir', 'caBundle'] as const) {
      const value = query[field];
      if (value !== undefined && !path.isAbsolute(value)) {
        throw new ServiceError('INVALID_ARGUMENT', `${field} must be an absolute path, got "${value.slice(0, 200)}"`, [{ field, message: 'expected an absolute path' }]);
      }
    }
    const { workload, token } = await this.deps.registry.tokenFor(workloadId);
    if (format === 'grpc') {
      const listen = query.listen ?? '127.0.0.1:15010';
      const body = grpcBootstrap({ workload, xdsAddress: listen, certDir: query.certDir ?? '/var/run/accord' });
      return { contentType: 'application/json', body: `${JSON.stringify(body, null, 2)}\n` };
    }
    const xdsAddresses = (query.xds ?? this.deps.defaultXdsAddress()).split(',').map((a) => a.trim()).filter(Boolean);
    for (const address of xdsAddresses) {
      if (!/^[^:\s]+:\d{1,5}$/.test(address) && !/^\[[0-9a-f:]+\]:\d{1,5}$/i.test(address)) {
        throw new ServiceError('INVALID_ARGUMENT', `xds address "${address}" must be host:port`, [{ field: 'xds', message: 'expected host:port[,host:port]' }]);
      }
    }
    const body = envoyBootstrapYaml({
      workload,
      token,
      xdsAddresses,
      caBundlePath: query.caBundle ?? '/etc/accord/ca.pem',
      xdsServerSpiffeId: this.deps.xdsTls === 'mesh-ca' ? this.deps.identity.xdsServerSpiffeId() : undefined,
      tls: this.deps.xdsTls !== 'none',
      delta: query.delta === 'true',
    });
    return { contentType: 'application/yaml', body };
  }
}
