import { clusterSpecifier } from '../configurers/route-action.js';
import { routeTrafficFields, type Configured } from '../configurers/traffic.js';
import type { ServiceView } from '../model.js';
import { DEFAULT_ROUTE, outboundRouteName } from '../names.js';
import type { LocalityPlan } from '../locality.js';
import type { ClusterTarget } from '../subsets.js';

/** The RDS route configuration every Envoy caller of an HTTP service uses. */
export function outboundRouteConfig(
  service: ServiceView,
  targets: readonly ClusterTarget[],
  plan: LocalityPlan,
): Configured<Record<string, unknown>> {
  const name = outboundRouteName(service.name, service.namespace);
  const traffic = routeTrafficFields(service.trafficPolicy, 'envoy', name, plan);
  return {
    value: {
      name,
      virtual_hosts: [
        {
          name,
          domains: ['*'],
          routes: [{ name: DEFAULT_ROUTE, match: { prefix: '/' }, route: { ...clusterSpecifier(targets), ...traffic.value } }],
        },
      ],
    },
    notes: traffic.notes,
  };
}
