import type { Workload } from '../../src/core/workload.js';

export function workload(overrides: Partial<Workload> = {}): Workload {
  return {
    id: 'payments-7f9c2',
    service: 'payments',
    namespace: 'default',
    serviceAccount: 'payments',
    address: '10.0.3.17',
    port: 8080,
    meshPort: 15006,
    protocol: 'http',
    labels: { version: 'v1' },
    locality: { region: 'eu-west-1', zone: 'eu-west-1a' },
    health: 'HEALTHY',
    upstreams: [{ service: 'ledger', namespace: 'default', localPort: 9001 }],
    ...overrides,
  };
}
