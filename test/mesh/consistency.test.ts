import { describe, expect, it } from 'vitest';
import { MeshTranslator, type ProxyResources, type Resource } from '../../src/mesh/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { consistencyProblems } from './support/consistency.js';
import { scenarioFrom } from './support/scenario.js';

// The golden suite relies on this checker; show that it notices a broken reference.
describe('consistencyProblems', () => {
  const { input } = scenarioFrom({
    workloads: [
      { id: 'a-1', service: 'a', address: '10.0.0.1', port: 8080, meshPort: 15006, upstreams: [{ service: 'b', localPort: 9001 }] },
      { id: 'b-1', service: 'b', address: '10.0.0.2', port: 8080, meshPort: 15006 },
    ],
  });
  const resources = new MeshTranslator().translate(input, 'a-1', 'envoy');

  function without(typeUrl: string, name: string): ProxyResources {
    return new Map(
      [...resources].map(([type, byName]): [string, ReadonlyMap<string, Resource>] => [
        type,
        type === typeUrl ? new Map([...byName].filter(([n]) => n !== name)) : byName,
      ]),
    );
  }

  it('finds nothing wrong in a translation', () => {
    expect(consistencyProblems(resources)).toEqual([]);
  });

  it('notices a missing CLA, route config or cluster', () => {
    expect(consistencyProblems(without(TypeUrl.ClusterLoadAssignment, 'outbound.b.default'))).toEqual(['missing CLA outbound.b.default']);
    expect(consistencyProblems(without(TypeUrl.RouteConfiguration, 'b.default'))).toContain('listener uses missing route config b.default');
    expect(consistencyProblems(without(TypeUrl.Cluster, 'outbound.b.default'))).toContain('missing cluster outbound.b.default');
  });
});
