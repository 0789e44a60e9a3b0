import { describe, expect, it } from 'vitest';
import { validateBootstrapConfig } from '@grpc/grpc-js-xds/build/src/xds-bootstrap.js';
import { grpcBootstrap, grpcBootstrapJson, GRPC_SERVER_LISTENER_TEMPLATE } from '../../src/mesh/bootstrap/index.js';
import { workload } from './fixtures.js';

const input = { workload: workload(), xdsAddress: '127.0.0.1:15010', certDir: '/var/run/accord/payments' };

describe('grpcBootstrap', () => {
  it("is accepted by grpc-js-xds's own bootstrap validation", () => {
    const info = validateBootstrapConfig(grpcBootstrap(input));
    expect(info.xdsServers).toEqual([{ server_uri: '127.0.0.1:15010', channel_creds: [{ type: 'insecure', config: undefined }], server_features: [] }]);
    expect(info.node).toEqual({ id: 'payments-7f9c2', cluster: 'payments', locality: { region: 'eu-west-1', zone: 'eu-west-1a' } });
    expect(info.serverListenerResourceNameTemplate).toBe(GRPC_SERVER_LISTENER_TEMPLATE);
    expect(info.certificateProviders).toEqual({
      default: {
        pluginName: 'file_watcher',
        config: {
          certificateFile: '/var/run/accord/payments/cert.pem',
          privateKeyFile: '/var/run/accord/payments/key.pem',
          caCertificateFile: '/var/run/accord/payments/ca.pem',
          refreshIntervalMs: 1000,
        },
      },
    });
  });

  it('always carries a locality, which grpc-js-xds requires, even when none is known', () => {
    const bootstrap = grpcBootstrap({ ...input, workload: workload({ locality: {} }) });
    expect(bootstrap.node).toEqual({ id: 'payments-7f9c2', cluster: 'payments', locality: {} });
    expect(validateBootstrapConfig(bootstrap).node.locality).toEqual({});
    const { locality: _locality, ...nodeWithout } = bootstrap.node as Record<string, unknown>;
    expect(() => validateBootstrapConfig({ ...bootstrap, node: nodeWithout })).toThrow(/locality/);
  });

  it('carries the sub-zone as sub_zone', () => {
    const bootstrap = grpcBootstrap({ ...input, workload: workload({ locality: { zone: 'z1', subZone: 'rack-2' } }) });
    expect(validateBootstrapConfig(bootstrap).node.locality).toEqual({ zone: 'z1', sub_zone: 'rack-2' });
  });

  it('is written as JSON that reads back unchanged, as the agent writes bootstrap.json', () => {
    const text = grpcBootstrapJson(input);
    expect(text.endsWith('}\n')).toBe(true);
    expect(JSON.parse(text)).toEqual(grpcBootstrap(input));
    expect(() => validateBootstrapConfig(JSON.parse(text))).not.toThrow();
  });
});
