/**
 * An ingress gateway's Envoy: one listener per port of its `Gateway` document, terminating the
 * users' TLS (one filter chain per listener, SNI picking the certificate), and one route table
 * per port built from the `HTTPRoute`s attached to it. Backends are the mesh services' ordinary
 * outbound clusters, so the gateway calls them over mesh mTLS as its own identity and every
 * AuthorizationPolicy applies to it like to any caller.
 */
import type {
  GatewayListener,
  HttpHeaderModifier,
  HttpPathModifier,
  HttpRouteMatch,
  HttpRouteRule,
  PolicyDocument,
} from '../../core/policy.js';
import type { GatewayRole, Workload } from '../../core/workload.js';
import { ProtoType, anyOf, duration, socketAddress } from '../configurers/common.js';
import { httpConnectionManagerFilter, routerFilter } from '../configurers/http.js';
import { transportSocket } from '../configurers/tls.js';
import { FilterName } from '../names.js';
import type { ClusterTarget } from '../subsets.js';

export type GatewayDocument = PolicyDocument & { kind: 'Gateway' };
export type HttpRouteDocument = PolicyDocument & { kind: 'HTTPRoute' };

/** The SDS name of a user certificate; the control plane serves it to this gateway only (decision 0022). */
export function gatewayCertificateName(namespace: string, name: string): string {
  return `gateway/${namespace}/${name}`;
}

export function gatewayListenerName(port: number): string {
  return `gateway_${port}`;
}

/** `tls.crt` / `tls.key` of one certificate on the gateway's host. */
export function certificateFiles(role: GatewayRole, namespace: string, name: string): { readonly directory: string; readonly chain: string; readonly key: string } {
  const directory = `${role.certificateDirectory === '/' ? '' : role.certificateDirectory}/${namespace}/${name}`;
  return { directory, chain: `${directory}/tls.crt`, key: `${directory}/tls.key` };
}

/** Does `host` (exact or `*.suffix`) fall under the listener's host name? */
function hostMatches(listenerHost: string, host: string): boolean {
  if (listenerHost === host) return true;
  if (listenerHost.startsWith('*.')) {
    const suffix = listenerHost.slice(1);
    return host.endsWith(suffix) && host.length > suffix.length && !(host.startsWith('*.') && host.slice(1).length < suffix.length);
  }
  if (host.startsWith('*.')) return listenerHost.endsWith(host.slice(1)) && listenerHost.length > host.length - 1;
  return false;
}

/** Gateway API: the route's host names narrowed to the listener's; none left = the route does not attach there. */
function domainsFor(listener: GatewayListener, routeHosts: readonly string[]): string[] {
  if (routeHosts.length === 0) return [listener.hostname ?? '*'];
  if (listener.hostname === undefined) return [...routeHosts];
  const listenerHost = listener.hostname;
  return routeHosts.flatMap((host) => {
    if (!hostMatches(listenerHost, host)) return [];
    // A wildcard route host under an exact listener host narrows to the listener's.
    return [host.startsWith('*.') && !listenerHost.startsWith('*.') ? listenerHost : host];
  });
}

export interface BackendTargets {
  /**
   * The service's clusters (one, or one per split subset) and the retry policy of Envoy routes to
   * it; undefined when the service has no workloads.
   */
  (namespace: string, name: string): { readonly targets: readonly ClusterTarget[]; readonly retryPolicy: Record<string, unknown> | undefined } | undefined;
}

interface RouteEntry {
  readonly route: Record<string, unknown>;
  /** Gateway API precedence, compared lexicographically. */
  readonly rank: readonly (number | string)[];
}

function headerEdits(modifier: HttpHeaderModifier): { add: Record<string, unknown>[]; remove: string[] } {
  return {
    add: [
      ...(modifier.set ?? []).map((header) => ({ header: { key: header.name, value: header.value }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })),
      ...(modifier.add ?? []).map((header) => ({ header: { key: header.name, value: header.value }, append_action: 'APPEND_IF_EXISTS_OR_ADD' })),
    ],
    remove: [...(modifier.remove ?? [])],
  };
}

function routeMatch(match: HttpRouteMatch): Record<string, unknown> {
  const path = match.path;
  const headers = [
    ...(match.method !== undefined ? [{ name: ':method', string_match: { exact: match.method } }] : []),
    ...(match.headers ?? []).map((header) => ({
      name: header.name,
      string_match: header.type === 'Exact' ? { exact: header.value } : { safe_regex: { regex: header.value } },
    })),
  ];
  const pathPart =
    path.type === 'Exact'
      ? { path: path.value }
      : path.type === 'RegularExpression'
        ? { safe_regex: { regex: path.value } }
        : path.value === '/'
          ? { prefix: '/' }
          : // Gateway API prefixes match whole segments: `/abc` matches `/abc/x`, not `/abcd`.
            { path_separated_prefix: path.value };
  return { ...pathPart, ...(headers.length > 0 ? { headers } : {}) };
}

function pathRewrite(modifier: HttpPathModifier | undefined, into: 'redirect' | 'route'): Record<string, unknown> {
  if (modifier === undefined) return {};
  if (modifier.type === 'ReplacePrefixMatch') return { prefix_rewrite: modifier.replacePrefixMatch };
  return into === 'redirect'
    ? { path_redirect: modifier.replaceFullPath }
    : { regex_rewrite: { pattern: { regex: '^/.*$' }, substitution: modifier.replaceFullPath } };
}

function precedence(match: HttpRouteMatch, route: HttpRouteDocument, ruleIndex: number): (number | string)[] {
  const path = match.path;
  const typeRank = path.type === 'Exact' ? 0 : path.type === 'PathPrefix' ? 1 : 2;
  return [
    typeRank,
    -path.value.length,
    match.method !== undefined ? 0 : 1,
    -(match.headers?.length ?? 0),
    `${route.metadata.namespace}/${route.metadata.name}`,
    ruleIndex,
  ];
}

function compareRank(a: readonly (number | string)[], b: readonly (number | string)[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i] as number | string;
    const y = b[i] as number | string;
    if (x < y) return -1;
    if (x > y) return 1;
  }
  return 0;
}

/**
 * `timeouts.request` bounds the whole request. `backendRequest` bounds each attempt (the retry's
 * `per_try_timeout` when the gateway retries) and, since Envoy has no separate bound for the
 * attempts together, the whole request too: the shorter one applies.
 */
function timeoutMs(rule: HttpRouteRule): number | undefined {
  const values = [rule.timeouts?.requestMs, rule.timeouts?.backendRequestMs].filter((ms): ms is number => ms !== undefined && ms > 0);
  if (values.length > 0) return Math.min(...values);
  return rule.timeouts !== undefined && (rule.timeouts.requestMs === 0 || rule.timeouts.backendRequestMs === 0) ? 0 : undefined;
}

function ruleAction(rule: HttpRouteRule, backends: BackendTargets): Record<string, unknown> {
  const filters = rule.filters;
  const redirect = filters.find((filter) => filter.type === 'RequestRedirect');
  if (redirect !== undefined) {
    const settings = redirect.requestRedirect;
    return {
      redirect: {
        ...(settings.scheme !== undefined ? { scheme_redirect: settings.scheme } : {}),
        ...(settings.hostname !== undefined ? { host_redirect: settings.hostname } : {}),
        ...(settings.port !== undefined ? { port_redirect: settings.port } : {}),
        ...pathRewrite(settings.path, 'redirect'),
        response_code: settings.statusCode === 301 ? 'MOVED_PERMANENTLY' : 'FOUND',
      },
    };
  }
  const clusters: { name: string; weight: { value: number } }[] = [];
  const retryPolicies: (Record<string, unknown> | undefined)[] = [];
  for (const backend of rule.backendRefs) {
    if (backend.weight === 0) continue;
    const found = backends(backend.namespace, backend.name);
    const targets = found?.targets ?? [];
    if (found) retryPolicies.push(found.retryPolicy);
    const total = targets.reduce((sum, target) => sum + target.weight, 0);
    for (const target of targets) {
      // A split service keeps its subset shares inside the backend's share.
      clusters.push({ name: target.clusterName, weight: { value: Math.max(1, Math.round((backend.weight * target.weight * 100) / total)) } });
    }
  }
  const rewrite = filters.find((filter) => filter.type === 'URLRewrite');
  const timeout = timeoutMs(rule);
  if (clusters.length === 0) {
    // Gateway API: a rule whose backends all are missing answers 500.
    return { direct_response: { status: 500 } };
  }
  const retryPolicy = sharedRetryPolicy(retryPolicies);
  const perTry = rule.timeouts?.backendRequestMs;
  return {
    route: {
      ...(clusters.length === 1 ? { cluster: clusters[0]?.name } : { weighted_clusters: { clusters } }),
      ...(rewrite !== undefined && rewrite.urlRewrite.hostname !== undefined ? { host_rewrite_literal: rewrite.urlRewrite.hostname } : {}),
      ...(rewrite !== undefined ? pathRewrite(rewrite.urlRewrite.path, 'route') : {}),
      ...(timeout !== undefined ? { timeout: duration(timeout) } : {}),
      ...(retryPolicy !== undefined
        ? { retry_policy: { ...retryPolicy, ...(perTry !== undefined && perTry > 0 ? { per_try_timeout: duration(perTry) } : {}) } }
        : {}),
    },
  };
}

/**
 * The gateway retries as a sidecar caller would (the backends' TrafficPolicy retries, or Accord's
 * default), but a route has one retry policy for all its backends: when they differ, the gateway
 * does not retry, since one of them may have turned retries off.
 */
function sharedRetryPolicy(policies: readonly (Record<string, unknown> | undefined)[]): Record<string, unknown> | undefined {
  const [first] = policies;
  if (first === undefined) return undefined;
  const key = JSON.stringify(first);
  return policies.every((policy) => policy !== undefined && JSON.stringify(policy) === key) ? first : undefined;
}

function routeEntries(route: HttpRouteDocument, backends: BackendTargets): RouteEntry[] {
  return route.spec.rules.flatMap((rule, ruleIndex) => {
    const action = ruleAction(rule, backends);
    const requestHeaders = rule.filters.find((filter) => filter.type === 'RequestHeaderModifier');
    const responseHeaders = rule.filters.find((filter) => filter.type === 'ResponseHeaderModifier');
    const request = requestHeaders ? headerEdits(requestHeaders.requestHeaderModifier) : undefined;
    const response = responseHeaders ? headerEdits(responseHeaders.responseHeaderModifier) : undefined;
    return rule.matches.map((match, matchIndex) => ({
      rank: precedence(match, route, ruleIndex),
      route: {
        name: `${route.metadata.namespace}/${route.metadata.name}/${ruleIndex}/${matchIndex}`,
        match: routeMatch(match),
        ...action,
        ...(request && request.add.length > 0 ? { request_headers_to_add: request.add } : {}),
        ...(request && request.remove.length > 0 ? { request_headers_to_remove: request.remove } : {}),
        ...(response && response.add.length > 0 ? { response_headers_to_add: response.add } : {}),
        ...(response && response.remove.length > 0 ? { response_headers_to_remove: response.remove } : {}),
      },
    }));
  });
}

function attaches(route: HttpRouteDocument, gateway: GatewayDocument, listener: GatewayListener): boolean {
  return route.spec.parentRefs.some(
    (ref) =>
      ref.namespace === gateway.metadata.namespace &&
      ref.name === gateway.metadata.name &&
      (ref.sectionName === undefined || ref.sectionName === listener.name) &&
      (ref.port === undefined || ref.port === listener.port),
  );
}

/** The route table of one port: a virtual host per domain, routes in Gateway API precedence. */
function routeTable(port: number, listeners: readonly GatewayListener[], gateway: GatewayDocument, routes: readonly HttpRouteDocument[], backends: BackendTargets): Record<string, unknown> {
  const byDomain = new Map<string, RouteEntry[]>();
  for (const listener of listeners) {
    for (const route of routes) {
      if (!attaches(route, gateway, listener)) continue;
      const entries = routeEntries(route, backends);
      for (const domain of domainsFor(listener, route.spec.hostnames)) {
        const list = byDomain.get(domain) ?? [];
        for (const entry of entries) if (!list.some((existing) => existing.route.name === entry.route.name)) list.push(entry);
        byDomain.set(domain, list);
      }
    }
  }
  const domains = [...byDomain.keys()].sort();
  return {
    name: gatewayListenerName(port),
    virtual_hosts: domains.map((domain) => ({
      name: domain,
      domains: [domain],
      routes: [...(byDomain.get(domain) ?? [])].sort((a, b) => compareRank(a.rank, b.rank)).map((entry) => entry.route),
    })),
  };
}

function connectionManager(port: number, routeConfig: Record<string, unknown>): Record<string, unknown> {
  return httpConnectionManagerFilter({
    stat_prefix: gatewayListenerName(port),
    codec_type: 'AUTO',
    // Host headers carry the port on non-default ports; virtual hosts are by name only.
    strip_any_host_port: true,
    route_config: routeConfig,
    http_filters: [routerFilter()],
    // Callers outside the mesh must not pose as a mesh identity.
    forward_client_cert_details: 'SANITIZE',
    use_remote_address: { value: true },
  });
}

function downstreamTls(listener: GatewayListener): Record<string, unknown> {
  const ref = listener.tls?.certificateRefs[0];
  return transportSocket(
    anyOf(ProtoType.downstreamTls, {
      common_tls_context: {
        tls_certificate_sds_secret_configs: ref ? [{ name: gatewayCertificateName(ref.namespace, ref.name), sds_config: { ads: {}, resource_api_version: 'V3' } }] : [],
        alpn_protocols: ['h2', 'http/1.1'],
      },
    }),
  );
}

/** Every listener of the gateway workload: one per port of its Gateway document. */
export function gatewayListeners(workload: Workload, gateway: GatewayDocument, routes: readonly HttpRouteDocument[], backends: BackendTargets): Record<string, unknown>[] {
  const ports = [...new Set(gateway.spec.listeners.map((listener) => listener.port))].sort((a, b) => a - b);
  return ports.map((port) => {
    const listeners = gateway.spec.listeners.filter((listener) => listener.port === port);
    const manager = connectionManager(port, routeTable(port, listeners, gateway, routes, backends));
    const base = { name: gatewayListenerName(port), address: socketAddress(workload.address, port), traffic_direction: 'INBOUND' };
    if (listeners[0]?.protocol !== 'HTTPS') return { ...base, filter_chains: [{ name: 'http', filters: [manager] }] };
    return {
      ...base,
      listener_filters: [{ name: FilterName.tlsInspector, typed_config: anyOf(ProtoType.tlsInspector, {}) }],
      filter_chains: listeners.map((listener) => ({
        name: listener.name,
        ...(listener.hostname !== undefined ? { filter_chain_match: { server_names: [listener.hostname] } } : {}),
        filters: [manager],
        transport_socket: downstreamTls(listener),
      })),
    };
  });
}

/** The user certificates the gateway's listeners refer to, as SDS secrets naming files on its host. */
export function gatewayCertificateSecrets(role: GatewayRole, gateway: GatewayDocument): Record<string, unknown>[] {
  const seen = new Map<string, Record<string, unknown>>();
  for (const listener of gateway.spec.listeners) {
    for (const ref of listener.tls?.certificateRefs ?? []) {
      const name = gatewayCertificateName(ref.namespace, ref.name);
      const files = certificateFiles(role, ref.namespace, ref.name);
      seen.set(name, {
        name,
        tls_certificate: {
          certificate_chain: { filename: files.chain },
          private_key: { filename: files.key },
          // Envoy re-reads both files when one is moved into the directory: replace them by rename.
          watched_directory: { path: files.directory },
        },
      });
    }
  }
  return [...seen.values()];
}
