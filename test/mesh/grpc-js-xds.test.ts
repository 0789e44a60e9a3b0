// Enable the RBAC filter before grpc-js-xds loads (it reads its flags once, at load time).
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';

import { readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MeshTranslator } from '../../src/mesh/index.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { GrpcJsXdsValidator } from './support/grpc-js-xds-validator.js';
import { loadScenarioFile } from './support/scenario.js';

const goldenDir = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'golden');
const scenarios = readdirSync(goldenDir).filter((name) => existsSync(path.join(goldenDir, name, 'in.yaml')));

describe('grpc-js-xds accepts every proxyless resource', () => {
  const validator = new GrpcJsXdsValidator(loadEnvoyProtos());

  it('rejects what it should (the validator is live)', () => {
    const bad = { name: 'c', type: 'EDS', lb_policy: 'LEAST_REQUEST', eds_cluster_config: { eds_config: { ads: {} } } };
    expect(validator.error('type.googleapis.com/envoy.config.cluster.v3.Cluster', bad)).toBeDefined();
    const routerFirst = {
      name: 'l',
      api_listener: {
        api_listener: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          rds: { route_config_name: 'r', config_source: { ads: {} } },
          http_filters: [
            { name: 'router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
            { name: 'rbac', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC', rules: {} } },
          ],
        },
      },
    };
    expect(validator.error('type.googleapis.com/envoy.config.listener.v3.Listener', routerFirst)).toBeDefined();
  });

  for (const name of scenarios) {
    const scenario = loadScenarioFile(path.join(goldenDir, name, 'in.yaml'));
    const proxies = scenario.proxies.filter((p) => p.flavour === 'grpc');
    if (proxies.length === 0) continue;
    it(name, () => {
      const translator = new MeshTranslator();
      const errors: string[] = [];
      for (const proxy of proxies) {
        for (const [typeUrl, byName] of translator.translate(scenario.input, proxy.workload, 'grpc')) {
          for (const [resourceName, resource] of byName) {
            const error = validator.error(typeUrl, resource);
            if (error !== undefined) errors.push(`${proxy.workload} ${resourceName}: ${error}`);
          }
        }
      }
      expect(errors).toEqual([]);
    });
  }
});
