import { describe, expect, it } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { ProtoChecker } from './support/proto-check.js';

// The golden suite trusts this checker, so show that it catches what it should.
describe('ProtoChecker', () => {
  const checker = new ProtoChecker();

  it('accepts a well-formed resource', () => {
    expect(checker.problems(TypeUrl.Cluster, { name: 'c', type: 'EDS', connect_timeout: { seconds: 1 } })).toEqual([]);
  });

  it('reports an unknown field', () => {
    expect(checker.problems(TypeUrl.Cluster, { name: 'c', conect_timeout: { seconds: 1 } })).toEqual([
      '.conect_timeout: dropped (unknown field or wrong type)',
    ]);
  });

  it('reports an unknown field inside an Any', () => {
    const listener = {
      name: 'l',
      api_listener: {
        api_listener: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: 'x',
          http_filter: [],
        },
      },
    };
    expect(checker.problems(TypeUrl.Listener, listener)).toEqual(['.api_listener.api_listener.http_filter: dropped (unknown field or wrong type)']);
  });

  it('reports a wrong enum value', () => {
    expect(checker.problems(TypeUrl.Cluster, { name: 'c', lb_policy: 'FASTEST' }).length).toBeGreaterThan(0);
  });
});
