import { describe, expect, it } from 'vitest';
import { DependentIndex } from '../../src/mesh/dependents.js';

const dependingOn = (index: DependentIndex, ...services: string[]): string[] => {
  const into = new Set<string>();
  index.workloadsDependingOn(services, into);
  return [...into].sort();
};

describe('DependentIndex', () => {
  it('routes a service change to exactly the proxies whose lists name it, as proxies join, move and leave lists', () => {
    const index = new DependentIndex();
    const webList = ['default/api', 'default/db', 'default/api'];
    index.track('envoy|web-1', 'web-1', webList);
    index.track('envoy|web-2', 'web-2', [...webList]);
    index.track('grpc|web-2', 'web-2', ['default/api']);
    index.track('envoy|ops-1', 'ops-1', ['ops/metrics']);
    expect(dependingOn(index, 'default/api')).toEqual(['web-1', 'web-2']);
    expect(dependingOn(index, 'default/db')).toEqual(['web-1', 'web-2']);
    expect(dependingOn(index, 'ops/metrics', 'default/nothing')).toEqual(['ops-1']);

    // web-1 now calls only the cache; its old list still holds web-2's Envoy.
    index.track('envoy|web-1', 'web-1', ['default/cache']);
    expect(dependingOn(index, 'default/db')).toEqual(['web-2']);
    expect(dependingOn(index, 'default/cache')).toEqual(['web-1']);

    // The last proxy of a list leaves: nothing depends on db any more.
    index.untrack('envoy|web-2');
    expect(dependingOn(index, 'default/db')).toEqual([]);
    expect(dependingOn(index, 'default/api')).toEqual(['web-2']);
    index.untrack('grpc|web-2');
    expect(dependingOn(index, 'default/api')).toEqual([]);
  });

  it('re-filing a proxy under the same list for another workload follows the workload', () => {
    const index = new DependentIndex();
    index.track('envoy|x', 'old-workload', ['default/api']);
    index.track('envoy|x', 'new-workload', ['default/api']);
    expect(dependingOn(index, 'default/api')).toEqual(['new-workload']);
  });

  it('names proxies that depend on everything (gateways) for any change, until they are filed under a list', () => {
    const index = new DependentIndex();
    index.trackAlways('envoy|gw-1', 'gw-1');
    index.track('envoy|web-1', 'web-1', ['default/api']);
    expect(dependingOn(index, 'default/unrelated')).toEqual(['gw-1']);
    index.track('envoy|gw-1', 'gw-1', ['default/web']);
    expect(dependingOn(index, 'default/unrelated')).toEqual([]);
    expect(dependingOn(index, 'default/web')).toEqual(['gw-1']);
  });
});
