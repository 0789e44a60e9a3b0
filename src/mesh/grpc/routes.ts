import { clusterSpecifier } from '../configurers/route-action.js';
import { routeTrafficFields, type Configured } from '../configurers/traffic.js';
import type { ServiceView } from '../model.js';
import { DEFAULT_ROUTE, outboundRouteName } from '../names.js';
import type { LocalityPlan } from '../locality.js';
import type { ClusterTarget } from '../subsets.js';

/** The route configuration behind every client Listener of a service (never the server's one). */
export function clientRouteConfig(
  service: ServiceView,
  targets: readonly ClusterTarget[],
  plan: LocalityPlan,
): Configured<Record<string, unknown>> {
  const name = outboundRouteName(service.name, service.namespace);
  const traffic = routeTrafficFields(service.trafficPolicy, 'grpc', name, plan);
  return {
    value: {
      name,
      virtual_hosts: [
        { name, domains: ['*'], routes: [{ name: DEFAULT_ROUTE, match: { prefix: '' }, route: { ...clusterSpecifier(targets), ...traffic.value } }] },
      ],
    },
    notes: traffic.notes,
  };
}
