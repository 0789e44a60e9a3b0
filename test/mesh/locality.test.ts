import { describe, expect, it } from 'vitest';
import type { LocalityLbSetting, TrafficPolicySpec } from '../../src/core/policy.js';
import { clusterLoadAssignment } from '../../src/mesh/endpoints.js';
import { localityPlan } from '../../src/mesh/locality.js';
import { MeshIndex } from '../../src/mesh/model.js';
import { MeshTranslator } from '../../src/mesh/index.js';
import { clusterTargets } from '../../src/mesh/subsets.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { scenarioFrom, type ScenarioWorkload } from './support/scenario.js';

const endpoint = (id: string, address: string, region: string, zone: string): ScenarioWorkload => ({
  id,
  service: 'api',
  address,
  port: 80,
  meshPort: 15006,
  locality: { region, zone },
});
const API = [
  endpoint('a-1', '10.0.0.1', 'eu', 'eu-a'),
  endpoint('a-2', '10.0.0.2', 'eu', 'eu-a'),
  endpoint('b-1', '10.0.1.1', 'eu', 'eu-b'),
  endpoint('u-1', '10.0.2.1', 'us', 'us-a'),
  endpoint('p-1', '10.0.3.1', 'ap', 'ap-a'),
];

type Cla = { endpoints: { locality: Record<string, string>; priority?: number; load_balancing_weight: { value: number } }[] };

function cla(caller: { region?: string; zone?: string }, policy?: Omit<TrafficPolicySpec, 'target'>): Cla {
  const service = new MeshIndex(scenarioFrom({ workloads: API }).input).service('default', 'api');
  const spec = policy && { target: 'api', ...policy };
  return clusterLoadAssignment(clusterTargets(service)[0]!, service.workloads, localityPlan(spec, caller)).value as unknown as Cla;
}

const summary = (value: Cla): string[] =>
  value.endpoints.map((e) => `${e.priority ?? 0} ${e.locality.region}/${e.locality.zone} w${e.load_balancing_weight.value}`);

describe('locality priorities', () => {
  it('puts the caller’s zone first, its region next, others last', () => {
    expect(summary(cla({ region: 'eu', zone: 'eu-a' }))).toEqual(['0 eu/eu-a w2', '1 eu/eu-b w1', '2 ap/ap-a w1', '2 us/us-a w1']);
    expect(summary(cla({ region: 'us', zone: 'us-a' }))).toEqual(['0 us/us-a w1', '1 ap/ap-a w1', '1 eu/eu-a w2', '1 eu/eu-b w1']);
  });

  it('closes gaps: no endpoint in the caller’s zone makes its region priority 0', () => {
    expect(summary(cla({ region: 'eu', zone: 'eu-c' }))).toEqual(['0 eu/eu-a w2', '0 eu/eu-b w1', '1 ap/ap-a w1', '1 us/us-a w1']);
  });

  it('gives one priority to a caller without locality, or when the policy turns it off', () => {
    expect(summary(cla({}))).toEqual(['0 ap/ap-a w1', '0 eu/eu-a w2', '0 eu/eu-b w1', '0 us/us-a w1']);
    expect(summary(cla({ region: 'eu', zone: 'eu-a' }, { locality: { enabled: false } }))).toEqual(summary(cla({})));
  });

  it('follows an explicit failover chain between regions', () => {
    const failover = { enabled: true, failover: [{ from: 'eu', to: 'us' }, { from: 'us', to: 'ap' }] };
    expect(summary(cla({ region: 'eu', zone: 'eu-b' }, { locality: failover }))).toEqual(['0 eu/eu-b w1', '1 eu/eu-a w2', '2 us/us-a w1', '3 ap/ap-a w1']);
    const reversed = { enabled: true, failover: [{ from: 'eu', to: 'ap' }] };
    expect(summary(cla({ region: 'eu', zone: 'eu-b' }, { locality: reversed }))).toEqual(['0 eu/eu-b w1', '1 eu/eu-a w2', '2 ap/ap-a w1', '3 us/us-a w1']);
  });

  it('distributes by weights at one priority, sharing a pattern’s weight among its localities', () => {
    const distribute: LocalityLbSetting = { enabled: true, distribute: [{ from: 'eu/eu-a', to: { 'eu/eu-a': 80, 'eu/*': 20 } }, { from: 'us/*', to: { '*': 100 } }] };
    // eu/eu-b is matched most specifically by eu/* (20); us and ap match nothing and are left out.
    expect(summary(cla({ region: 'eu', zone: 'eu-a' }, { locality: distribute }))).toEqual(['0 eu/eu-a w8000', '0 eu/eu-b w2000']);
    // The caller's own locality comes first, as Envoy lists it.
    expect(summary(cla({ region: 'us', zone: 'us-a' }, { locality: distribute }))).toEqual([
      '0 us/us-a w2500',
      '0 ap/ap-a w2500',
      '0 eu/eu-a w2500',
      '0 eu/eu-b w2500',
    ]);
    // A caller no rule matches fails over as usual.
    expect(summary(cla({ region: 'ap', zone: 'ap-a' }, { locality: distribute }))[0]).toBe('0 ap/ap-a w1');
  });
});

describe('clusters under locality plans', () => {
  const scenario = (policy?: Omit<TrafficPolicySpec, 'target'>) =>
    scenarioFrom({
      workloads: [
        ...API,
        { id: 'web-eu', service: 'web', address: '10.1.0.1', port: 80, meshPort: 15006, locality: { region: 'eu', zone: 'eu-a' }, upstreams: [{ service: 'api', localPort: 9001 }] },
        { id: 'web-us', service: 'web', address: '10.1.0.2', port: 80, meshPort: 15006, locality: { region: 'us', zone: 'us-a' }, upstreams: [{ service: 'api', localPort: 9001 }] },
        { id: 'web-none', service: 'web', address: '10.1.0.3', port: 80, meshPort: 15006, upstreams: [{ service: 'api', localPort: 9001 }] },
      ],
      ...(policy ? { trafficPolicies: [{ metadata: { name: 'api' }, spec: { target: 'api', ...policy } }] } : {}),
    }).input;
  const cluster = (input: ReturnType<typeof scenario>, proxy: string, flavour: 'envoy' | 'grpc' = 'envoy') =>
    new MeshTranslator().translate(input, proxy, flavour).get(TypeUrl.Cluster)!.get('outbound.api.default') as Record<string, unknown>;

  it('turns on outlier detection that may eject every host when failover is in effect (Envoy)', () => {
    const input = scenario();
    expect(cluster(input, 'web-eu').outlier_detection).toEqual({
      consecutive_5xx: { value: 5 },
      interval: { seconds: 5 },
      base_ejection_time: { seconds: 30 },
      max_ejection_percent: { value: 100 },
    });
    expect(cluster(input, 'web-none').outlier_detection).toBeUndefined();
    expect(cluster(input, 'web-eu', 'grpc').outlier_detection).toBeUndefined();
    expect(cluster(scenario({ locality: { enabled: false } }), 'web-eu').outlier_detection).toBeUndefined();
  });

  it('keeps the policy’s own outlier detection, allowing every host to be ejected unless it says otherwise', () => {
    expect(cluster(scenario({ outlierDetection: { consecutive5xx: 2 } }), 'web-eu').outlier_detection).toEqual({
      consecutive_5xx: { value: 2 },
      max_ejection_percent: { value: 100 },
    });
    expect(cluster(scenario({ outlierDetection: { maxEjectionPercent: 50 } }), 'web-eu').outlier_detection).toEqual({
      max_ejection_percent: { value: 50 },
    });
  });

  const retryPolicy = (input: ReturnType<typeof scenario>, proxy: string, flavour: 'envoy' | 'grpc' = 'envoy') => {
    const routes = new MeshTranslator().translate(input, proxy, flavour).get(TypeUrl.RouteConfiguration)!;
    const config = [...routes.values()][0] as { virtual_hosts: { routes: { route: Record<string, unknown> }[] }[] };
    return config.virtual_hosts[0]!.routes[0]!.route.retry_policy as Record<string, unknown> | undefined;
  };
  const budget = (input: ReturnType<typeof scenario>, proxy: string) =>
    (cluster(input, proxy).circuit_breakers as { thresholds: Record<string, unknown>[] } | undefined)?.thresholds[0];

  it('retries by default (no TrafficPolicy retries): twice, on other hosts, to the next priority under failover, within a budget', () => {
    const input = scenario();
    const otherHosts = {
      retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
      num_retries: { value: 2 },
      retriable_status_codes: [503],
      retry_host_predicate: [{ name: 'envoy.retry_host_predicates.previous_hosts', typed_config: expect.anything() }],
      host_selection_retry_max_attempts: 3,
    };
    expect(retryPolicy(input, 'web-eu')).toEqual({ ...otherHosts, retry_priority: expect.objectContaining({ name: 'envoy.retry_priorities.previous_priorities' }) });
    expect(retryPolicy(input, 'web-none')).toEqual(otherHosts);
    expect(retryPolicy(scenario({ outlierDetection: { consecutive5xx: 2 } }), 'web-eu')).toMatchObject(otherHosts);
    const retryBudget = { budget_percent: { value: 20 }, min_retry_concurrency: { value: 3 } };
    expect(budget(input, 'web-eu')).toEqual({ priority: 'DEFAULT', retry_budget: retryBudget });
    expect(budget(input, 'web-none')).toEqual({ priority: 'DEFAULT', retry_budget: retryBudget });
    expect(budget(scenario({ circuitBreakers: { maxRequests: 100 } }), 'web-eu')).toEqual({ priority: 'DEFAULT', max_requests: { value: 100 }, retry_budget: retryBudget });
    // Proxyless clients make no retries of their own by default.
    expect(retryPolicy(input, 'web-eu', 'grpc')).toBeUndefined();
  });

  it('leaves retries to a TrafficPolicy that sets them, and none at all for attempts: 0', () => {
    const own = scenario({ retries: { attempts: 3, retryOn: ['5xx'] } });
    expect(retryPolicy(own, 'web-eu')).toMatchObject({ retry_on: '5xx', num_retries: { value: 3 } });
    expect(retryPolicy(own, 'web-eu')).not.toHaveProperty('retriable_status_codes');
    expect(budget(own, 'web-eu')).toBeUndefined();
    const off = scenario({ retries: { attempts: 0, retryOn: ['5xx'] } });
    expect(retryPolicy(off, 'web-eu')).toBeUndefined();
    expect(budget(off, 'web-eu')).toBeUndefined();
    // The policy's own retry limit replaces the default budget.
    expect(budget(scenario({ circuitBreakers: { maxRetries: 7 } }), 'web-eu')).toEqual({ priority: 'DEFAULT', max_retries: { value: 7 } });
  });

  it('asks Envoy for locality-weighted LB when distributing', () => {
    const input = scenario({ locality: { enabled: true, distribute: [{ from: '*', to: { eu: 100 } }] } });
    expect(cluster(input, 'web-eu').common_lb_config).toEqual({ locality_weighted_lb_config: {} });
    expect(cluster(input, 'web-eu').outlier_detection).toBeUndefined();
  });

  it('gives callers in different localities different CLAs, and callers in the same one the same objects', () => {
    const input = scenario();
    const translator = new MeshTranslator();
    const claOf = (proxy: string) => translator.translate(input, proxy, 'envoy').get(TypeUrl.ClusterLoadAssignment)!.get('outbound.api.default');
    expect(claOf('web-eu')).not.toEqual(claOf('web-us'));
    expect(translator.inputKey(input, 'web-eu', 'envoy')).not.toBe(translator.inputKey(input, 'web-us', 'envoy'));
  });
});
