/**
 * `gateway.networking.k8s.io/v1` `Gateway` and `HTTPRoute`: the subset of the Kubernetes Gateway
 * API that Accord's ingress gateway serves (docs/configuration.md has the table). Fields of the
 * Gateway API that Accord does not implement are refused by name rather than ignored, so a
 * document never means less than it says. Namespaces left out of references are filled in by
 * document.ts, which knows the document's own namespace.
 */
import { z } from 'zod';
import type {
  BackendRef,
  GatewayListener,
  GatewaySpec,
  HttpHeaderModifier,
  HttpPathModifier,
  HttpRouteFilter,
  HttpRouteMatch,
  HttpRouteRule,
  HttpRouteSpec,
  ParentRef,
} from '../../core/policy.js';
import { HTTP_METHODS } from './authorization.js';
import { describeValue, duration, expecting, intBetween, nonEmptyString, objectName, oneOf, port, reportDuplicates, serviceName, WHEN_FIELDS_VALID } from './common.js';

/** Bounds on every caller-supplied count and string. */
export const GATEWAY_LIMITS = {
  listeners: 64,
  hostnames: 16,
  parentRefs: 16,
  rules: 64,
  matches: 16,
  headers: 16,
  filters: 8,
  backendRefs: 16,
  headerEdits: 16,
  path: 1024,
  headerValue: 4096,
} as const;

const SUPPORTED = 'see the Gateway API subset in docs/configuration.md';

/** A Gateway API field Accord does not implement: absent is fine, present is refused by name. */
function notSupported(field: string) {
  return z
    .unknown()
    .superRefine((value, context) => {
      if (value !== undefined) context.addIssue({ code: 'custom', message: `${field} is not supported by Accord's gateway (${SUPPORTED})` });
    })
    .optional();
}

function list<T extends z.ZodType>(item: T, what: string, max: number, min = 0) {
  const schema = z.array(item, expecting(`a list of ${what}`)).max(max, { message: `expected at most ${max} ${what}` });
  return min > 0 ? schema.min(min, { message: `expected at least ${min} of ${what}` }) : schema;
}

/** RFC 1123 host names, optionally with a leading `*.` (as Gateway API's `Hostname`); no IP addresses. */
const HOSTNAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/;
const HOSTNAME_WHAT = 'a lower-case host name such as "shop.example.com" or "*.example.com"';

function hostname() {
  return z
    .string(expecting(HOSTNAME_WHAT))
    .max(253, expecting(HOSTNAME_WHAT))
    .regex(HOSTNAME, expecting(HOSTNAME_WHAT))
    .refine((host) => !/^[0-9.]+$/.test(host), { message: 'expected a host name, not an IP address' });
}

function literalOrDefault<const T extends string>(value: T, what: string) {
  return z.literal(value, { error: (issue) => `only ${what} ${JSON.stringify(value)} is supported, got ${describeValue(issue.input)}` }).optional();
}

/** Gateway API's `group`: the core group is the empty string. */
function coreGroup() {
  return z.literal('', { error: (issue) => `only the core group "" is supported, got ${describeValue(issue.input)}` }).optional();
}

const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/;
const HEADER_NAME_WHAT = 'an HTTP header name';

function headerName() {
  return z.string(expecting(HEADER_NAME_WHAT)).regex(HEADER_NAME, expecting(HEADER_NAME_WHAT));
}

function headerValue() {
  const what = `a header value of at most ${GATEWAY_LIMITS.headerValue} characters without line breaks`;
  return z
    .string(expecting(what))
    .max(GATEWAY_LIMITS.headerValue, expecting(what))
    .regex(/^[^\r\n\0]*$/, expecting(what));
}

const PATH_WHAT = 'a path starting with "/"';

function path() {
  return z
    .string(expecting(PATH_WHAT))
    .max(GATEWAY_LIMITS.path, expecting(`a path of at most ${GATEWAY_LIMITS.path} characters`))
    .regex(/^\/[^\s?#]*$/, expecting(`${PATH_WHAT}, without spaces, "?" or "#"`));
}

function regularExpression() {
  const what = `a regular expression of at most ${GATEWAY_LIMITS.path} characters`;
  return z
    .string(expecting(what))
    .min(1, expecting(what))
    .max(GATEWAY_LIMITS.path, expecting(what))
    .superRefine((pattern, context) => {
      try {
        new RegExp(pattern, 'u');
      } catch (error) {
        context.addIssue({ code: 'custom', message: `invalid regular expression: ${(error as Error).message}` });
      }
    });
}

// ---------------------------------------------------------------- Gateway

const certificateRefSchema = z.strictObject(
  {
    group: coreGroup(),
    kind: literalOrDefault('Secret', 'kind'),
    name: objectName(),
    namespace: serviceName().optional(),
  },
  expecting('a mapping with the name of a certificate (see docs/configuration.md)'),
);

const listenerTlsSchema = z.strictObject(
  {
    mode: z
      .string(expecting('Terminate'))
      .superRefine((mode, context) => {
        if (mode === 'Passthrough') context.addIssue({ code: 'custom', message: `tls.mode Passthrough is not supported by Accord's gateway (${SUPPORTED})` });
        else if (mode !== 'Terminate') context.addIssue({ code: 'custom', message: `expected Terminate, got ${describeValue(mode)}` });
      })
      .optional(),
    certificateRefs: z
      .array(certificateRefSchema, expecting('a list of certificate references'))
      .min(1, { message: 'expected one certificate reference' })
      .max(1, { message: 'one certificate per listener is supported (serve several host names with one HTTPS listener each)' }),
    options: notSupported('tls.options'),
    frontendValidation: notSupported('tls.frontendValidation (client certificates)'),
  },
  expecting('a mapping with certificateRefs'),
);

const listenerSchema = z
  .strictObject(
    {
      name: objectName(),
      hostname: hostname().optional(),
      port: port(),
      protocol: z.string(expecting('HTTP or HTTPS')).superRefine((protocol, context) => {
        if (protocol === 'HTTP' || protocol === 'HTTPS') return;
        const message = ['TLS', 'TCP', 'UDP'].includes(protocol)
          ? `protocol ${protocol} is not supported by Accord's gateway, which serves HTTP and HTTPS (${SUPPORTED})`
          : `expected HTTP or HTTPS, got ${describeValue(protocol)}`;
        context.addIssue({ code: 'custom', message });
      }),
      tls: listenerTlsSchema.optional(),
      allowedRoutes: notSupported('allowedRoutes (routes attach from any namespace by parentRefs)'),
    },
    expecting('a mapping with name, port and protocol'),
  )
  .superRefine((listener, context) => {
    if (listener.protocol === 'HTTPS' && listener.tls === undefined) {
      context.addIssue({ code: 'custom', path: ['tls'], message: 'an HTTPS listener needs tls.certificateRefs' });
    }
    if (listener.protocol === 'HTTP' && listener.tls !== undefined) {
      context.addIssue({ code: 'custom', path: ['tls'], message: 'tls is only allowed on an HTTPS listener' });
    }
  }, WHEN_FIELDS_VALID)
  .transform((raw): GatewayListener => ({
    name: raw.name,
    ...(raw.hostname !== undefined && { hostname: raw.hostname }),
    port: raw.port,
    protocol: raw.protocol as 'HTTP' | 'HTTPS',
    ...(raw.tls !== undefined && {
      tls: { mode: 'Terminate', certificateRefs: raw.tls.certificateRefs.map((ref) => ({ name: ref.name, namespace: ref.namespace ?? '' })) },
    }),
  }));

export const gatewaySpecSchema = z
  .strictObject(
    {
      gatewayClassName: nonEmptyString('a gateway class name').max(253, expecting('a gateway class name of at most 253 characters')),
      listeners: list(listenerSchema, 'listeners', GATEWAY_LIMITS.listeners, 1).superRefine(
        reportDuplicates<GatewayListener>('listeners', (listener) => listener.name, 'name', (listener) => `duplicate listener name ${describeValue(listener.name)}`),
      ),
      addresses: notSupported('addresses (the gateway listens where its Envoy runs)'),
      infrastructure: notSupported('infrastructure'),
      tls: notSupported('spec.tls (gateway-wide TLS settings)'),
      allowedListeners: notSupported('allowedListeners (ListenerSets)'),
      backendTLS: notSupported('backendTLS (backends are reached over mesh mTLS)'),
    },
    expecting('a mapping with gatewayClassName and listeners'),
  )
  .superRefine((spec, context) => {
    const protocolByPort = new Map<number, { protocol: string; index: number }>();
    const hostByPort = new Map<string, number>();
    spec.listeners.forEach((listener, index) => {
      const earlier = protocolByPort.get(listener.port);
      if (earlier === undefined) protocolByPort.set(listener.port, { protocol: listener.protocol, index });
      else if (earlier.protocol !== listener.protocol) {
        context.addIssue({
          code: 'custom',
          path: ['listeners', index, 'protocol'],
          message: `port ${listener.port} is already ${earlier.protocol} (listeners[${earlier.index}]); one port serves one protocol`,
        });
      }
      const key = `${listener.port} ${listener.hostname ?? '*'}`;
      const first = hostByPort.get(key);
      if (first === undefined) hostByPort.set(key, index);
      else {
        context.addIssue({
          code: 'custom',
          path: ['listeners', index, 'hostname'],
          message: `port ${listener.port} already has a listener for ${listener.hostname === undefined ? 'any host name' : describeValue(listener.hostname)} (listeners[${first}])`,
        });
      }
    });
  }, WHEN_FIELDS_VALID)
  .transform((raw): GatewaySpec => ({ gatewayClassName: raw.gatewayClassName, listeners: raw.listeners }));

// ---------------------------------------------------------------- HTTPRoute

const parentRefSchema = z
  .strictObject(
    {
      group: literalOrDefault('gateway.networking.k8s.io', 'group'),
      kind: literalOrDefault('Gateway', 'kind'),
      name: objectName(),
      namespace: serviceName().optional(),
      sectionName: objectName().optional(),
      port: port().optional(),
    },
    expecting('a mapping naming a Gateway'),
  )
  .transform((raw): ParentRef => ({
    name: raw.name,
    namespace: raw.namespace ?? '',
    ...(raw.sectionName !== undefined && { sectionName: raw.sectionName }),
    ...(raw.port !== undefined && { port: raw.port }),
  }));

const pathMatchSchema = z
  .strictObject(
    {
      type: oneOf(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
      value: z.string(expecting('a path')).default('/'),
    },
    expecting('a mapping with type and value'),
  )
  .superRefine((match, context) => {
    const check = match.type === 'RegularExpression' ? regularExpression() : path();
    const result = check.safeParse(match.value);
    if (!result.success) context.addIssue({ code: 'custom', path: ['value'], message: result.error.issues[0]?.message ?? 'invalid path' });
    else if (match.type === 'PathPrefix' && match.value.length > 1 && match.value.endsWith('/')) {
      context.addIssue({ code: 'custom', path: ['value'], message: 'a PathPrefix must not end with "/" (prefixes match whole path segments)' });
    }
  }, WHEN_FIELDS_VALID);

const headerMatchSchema = z
  .strictObject(
    {
      type: oneOf(['Exact', 'RegularExpression']).default('Exact'),
      name: headerName(),
      value: headerValue(),
    },
    expecting('a mapping with name and value'),
  )
  .superRefine((match, context) => {
    if (match.type !== 'RegularExpression') return;
    const result = regularExpression().safeParse(match.value);
    if (!result.success) context.addIssue({ code: 'custom', path: ['value'], message: result.error.issues[0]?.message ?? 'invalid regular expression' });
  }, WHEN_FIELDS_VALID)
  .transform((raw) => ({ type: raw.type, name: raw.name.toLowerCase(), value: raw.value }));

const routeMatchSchema = z
  .strictObject(
    {
      path: pathMatchSchema.optional(),
      headers: list(headerMatchSchema, 'header matches', GATEWAY_LIMITS.headers)
        .superRefine(reportDuplicates<{ name: string }>('headers', (header) => header.name, 'name', (header) => `duplicate header match ${describeValue(header.name)}`))
        .optional(),
      method: oneOf(HTTP_METHODS).optional(),
      queryParams: notSupported('queryParams matches'),
    },
    expecting('a mapping with path, headers or method'),
  )
  .transform(
    (raw): HttpRouteMatch => ({
      path: raw.path ?? { type: 'PathPrefix', value: '/' },
      ...(raw.headers !== undefined && raw.headers.length > 0 && { headers: raw.headers }),
      ...(raw.method !== undefined && { method: raw.method }),
    }),
  );

const headerSchema = z.strictObject({ name: headerName(), value: headerValue() }, expecting('a mapping with name and value'));

const headerModifierSchema = z
  .strictObject(
    {
      set: list(headerSchema, 'headers', GATEWAY_LIMITS.headerEdits).optional(),
      add: list(headerSchema, 'headers', GATEWAY_LIMITS.headerEdits).optional(),
      remove: list(headerName(), 'header names', GATEWAY_LIMITS.headerEdits).optional(),
    },
    expecting('a mapping with set, add or remove'),
  )
  .superRefine((modifier, context) => {
    if ((modifier.set?.length ?? 0) + (modifier.add?.length ?? 0) + (modifier.remove?.length ?? 0) === 0) {
      context.addIssue({ code: 'custom', message: 'expected at least one of set, add or remove' });
    }
  }, WHEN_FIELDS_VALID)
  .transform(
    (raw): HttpHeaderModifier => ({
      ...(raw.set !== undefined && raw.set.length > 0 && { set: raw.set }),
      ...(raw.add !== undefined && raw.add.length > 0 && { add: raw.add }),
      ...(raw.remove !== undefined && raw.remove.length > 0 && { remove: raw.remove }),
    }),
  );

const pathModifierSchema = z
  .strictObject(
    {
      type: oneOf(['ReplaceFullPath', 'ReplacePrefixMatch']),
      replaceFullPath: path().optional(),
      replacePrefixMatch: path().optional(),
    },
    expecting('a mapping with type and replaceFullPath or replacePrefixMatch'),
  )
  .superRefine((modifier, context) => {
    const field = modifier.type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
    const other = modifier.type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
    if (modifier[field] === undefined) context.addIssue({ code: 'custom', path: [field], message: `type ${modifier.type} needs ${field}` });
    if (modifier[other] !== undefined) context.addIssue({ code: 'custom', path: [other], message: `${other} does not go with type ${modifier.type}` });
  }, WHEN_FIELDS_VALID)
  .transform(
    (raw): HttpPathModifier =>
      raw.type === 'ReplaceFullPath'
        ? { type: 'ReplaceFullPath', replaceFullPath: raw.replaceFullPath ?? '/' }
        : { type: 'ReplacePrefixMatch', replacePrefixMatch: raw.replacePrefixMatch ?? '/' },
  );

const redirectSchema = z
  .strictObject(
    {
      scheme: oneOf(['http', 'https']).optional(),
      hostname: hostname()
        .refine((host) => !host.startsWith('*'), { message: 'a redirect needs a host name without "*"' })
        .optional(),
      port: port().optional(),
      path: pathModifierSchema.optional(),
      statusCode: z
        .number(expecting('301 or 302'))
        .refine((code) => code === 301 || code === 302, { message: 'expected 301 or 302' })
        .default(302),
    },
    expecting('a mapping'),
  )
  .transform((raw) => ({
    ...(raw.scheme !== undefined && { scheme: raw.scheme }),
    ...(raw.hostname !== undefined && { hostname: raw.hostname }),
    ...(raw.port !== undefined && { port: raw.port }),
    ...(raw.path !== undefined && { path: raw.path }),
    statusCode: raw.statusCode as 301 | 302,
  }));

const urlRewriteSchema = z
  .strictObject(
    {
      hostname: hostname()
        .refine((host) => !host.startsWith('*'), { message: 'a rewrite needs a host name without "*"' })
        .optional(),
      path: pathModifierSchema.optional(),
    },
    expecting('a mapping with hostname or path'),
  )
  .superRefine((rewrite, context) => {
    if (rewrite.hostname === undefined && rewrite.path === undefined) context.addIssue({ code: 'custom', message: 'expected hostname or path' });
  }, WHEN_FIELDS_VALID)
  .transform((raw) => ({ ...(raw.hostname !== undefined && { hostname: raw.hostname }), ...(raw.path !== undefined && { path: raw.path }) }));

const FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite'] as const;
type FilterType = (typeof FILTER_TYPES)[number];
const FILTER_FIELD: Record<FilterType, 'requestHeaderModifier' | 'responseHeaderModifier' | 'requestRedirect' | 'urlRewrite'> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
};

const filterSchema = z
  .strictObject(
    {
      type: z.string(expecting(`one of ${FILTER_TYPES.join(', ')}`)).superRefine((type, context) => {
        if ((FILTER_TYPES as readonly string[]).includes(type)) return;
        const message = ['RequestMirror', 'CORS', 'ExtensionRef', 'ExternalAuth'].includes(type)
          ? `filter type ${type} is not supported by Accord's gateway (supported: ${FILTER_TYPES.join(', ')})`
          : `expected one of ${FILTER_TYPES.join(', ')}, got ${describeValue(type)}`;
        context.addIssue({ code: 'custom', message });
      }),
      requestHeaderModifier: headerModifierSchema.optional(),
      responseHeaderModifier: headerModifierSchema.optional(),
      requestRedirect: redirectSchema.optional(),
      urlRewrite: urlRewriteSchema.optional(),
      requestMirror: notSupported('requestMirror'),
      cors: notSupported('cors'),
      extensionRef: notSupported('extensionRef'),
      externalAuth: notSupported('externalAuth'),
    },
    expecting('a mapping with type and its settings'),
  )
  .superRefine((filter, context) => {
    const wanted = FILTER_FIELD[filter.type as FilterType];
    for (const field of Object.values(FILTER_FIELD)) {
      if (field === wanted && filter[field] === undefined) context.addIssue({ code: 'custom', path: [field], message: `type ${filter.type} needs ${field}` });
      if (field !== wanted && filter[field] !== undefined) context.addIssue({ code: 'custom', path: [field], message: `${field} does not go with type ${filter.type}` });
    }
  }, WHEN_FIELDS_VALID)
  .transform((raw): HttpRouteFilter => {
    switch (raw.type as FilterType) {
      case 'RequestHeaderModifier':
        return { type: 'RequestHeaderModifier', requestHeaderModifier: raw.requestHeaderModifier as HttpHeaderModifier };
      case 'ResponseHeaderModifier':
        return { type: 'ResponseHeaderModifier', responseHeaderModifier: raw.responseHeaderModifier as HttpHeaderModifier };
      case 'RequestRedirect':
        return { type: 'RequestRedirect', requestRedirect: raw.requestRedirect as NonNullable<typeof raw.requestRedirect> };
      case 'URLRewrite':
        return { type: 'URLRewrite', urlRewrite: raw.urlRewrite as NonNullable<typeof raw.urlRewrite> };
    }
  });

const backendRefSchema = z
  .strictObject(
    {
      group: coreGroup(),
      kind: literalOrDefault('Service', 'kind'),
      name: serviceName(),
      namespace: serviceName().optional(),
      port: port().optional(),
      weight: intBetween(0, 1_000_000).default(1),
      filters: notSupported('backendRefs[].filters (put filters on the rule)'),
    },
    expecting('a mapping naming a mesh service'),
  )
  .transform((raw): BackendRef => ({ name: raw.name, namespace: raw.namespace ?? '', ...(raw.port !== undefined && { port: raw.port }), weight: raw.weight }));

const timeoutsSchema = z
  .strictObject({ request: duration(0).optional(), backendRequest: duration(0).optional() }, expecting('a mapping with request or backendRequest'))
  .superRefine((timeouts, context) => {
    const { request, backendRequest } = timeouts;
    if (request !== undefined && backendRequest !== undefined && request > 0 && (backendRequest === 0 || backendRequest > request)) {
      context.addIssue({ code: 'custom', path: ['backendRequest'], message: 'backendRequest must not be longer than request' });
    }
  }, WHEN_FIELDS_VALID);

const ruleSchema = z
  .strictObject(
    {
      matches: list(routeMatchSchema, 'matches', GATEWAY_LIMITS.matches).optional(),
      filters: list(filterSchema, 'filters', GATEWAY_LIMITS.filters).optional(),
      backendRefs: list(backendRefSchema, 'backendRefs', GATEWAY_LIMITS.backendRefs).optional(),
      timeouts: timeoutsSchema.optional(),
      name: notSupported('rules[].name'),
      retry: notSupported('retry (set retries in the service\'s TrafficPolicy)'),
      sessionPersistence: notSupported('sessionPersistence'),
    },
    expecting('a mapping with matches, filters, backendRefs or timeouts'),
  )
  .superRefine((rule, context) => {
    const filters = rule.filters ?? [];
    const seen = new Map<string, number>();
    filters.forEach((filter, index) => {
      const earlier = seen.get(filter.type);
      if (earlier !== undefined) context.addIssue({ code: 'custom', path: ['filters', index, 'type'], message: `${filter.type} appears twice (also filters[${earlier}]); merge them` });
      else seen.set(filter.type, index);
    });
    const redirect = seen.has('RequestRedirect');
    if (redirect && seen.has('URLRewrite')) {
      context.addIssue({ code: 'custom', path: ['filters'], message: 'RequestRedirect and URLRewrite cannot be used in the same rule' });
    }
    const backends = (rule.backendRefs ?? []).filter((backend) => backend.weight > 0);
    if (redirect && (rule.backendRefs ?? []).length > 0) {
      context.addIssue({ code: 'custom', path: ['backendRefs'], message: 'a rule with a RequestRedirect sends no request to backends; remove backendRefs' });
    }
    if (!redirect && backends.length === 0) {
      context.addIssue({ code: 'custom', path: ['backendRefs'], message: 'expected at least one backendRef with a weight above 0 (or a RequestRedirect filter)' });
    }
    const prefixRewrite = filters.some(
      (filter) =>
        (filter.type === 'URLRewrite' && filter.urlRewrite.path?.type === 'ReplacePrefixMatch') ||
        (filter.type === 'RequestRedirect' && filter.requestRedirect.path?.type === 'ReplacePrefixMatch'),
    );
    const matches = rule.matches ?? [];
    if (prefixRewrite && (matches.length === 0 ? false : matches.some((match) => match.path.type !== 'PathPrefix'))) {
      context.addIssue({ code: 'custom', path: ['filters'], message: 'ReplacePrefixMatch needs every match of the rule to be a PathPrefix match' });
    }
  }, WHEN_FIELDS_VALID)
  .transform(
    (raw): HttpRouteRule => ({
      matches: raw.matches !== undefined && raw.matches.length > 0 ? raw.matches : [{ path: { type: 'PathPrefix', value: '/' } }],
      filters: raw.filters ?? [],
      backendRefs: raw.backendRefs ?? [],
      ...(raw.timeouts !== undefined &&
        (raw.timeouts.request !== undefined || raw.timeouts.backendRequest !== undefined) && {
          timeouts: {
            ...(raw.timeouts.request !== undefined && { requestMs: raw.timeouts.request }),
            ...(raw.timeouts.backendRequest !== undefined && { backendRequestMs: raw.timeouts.backendRequest }),
          },
        }),
    }),
  );

export const httpRouteSpecSchema = z
  .strictObject(
    {
      parentRefs: list(parentRefSchema, 'parentRefs', GATEWAY_LIMITS.parentRefs, 1),
      hostnames: list(hostname(), 'hostnames', GATEWAY_LIMITS.hostnames).optional(),
      rules: list(ruleSchema, 'rules', GATEWAY_LIMITS.rules, 1),
    },
    expecting('a mapping with parentRefs and rules'),
  )
  .transform((raw): HttpRouteSpec => ({ parentRefs: raw.parentRefs, hostnames: raw.hostnames ?? [], rules: raw.rules }));
