/**
 * A tiny evaluator for the RBAC subset the translator emits, to state authorization tests as
 * "this caller making this request is allowed" instead of comparing structures.
 */
type Json = Record<string, unknown>;

export interface Request {
  /** Caller's SPIFFE ID; undefined for a plaintext (unauthenticated) caller. */
  readonly principal: string | undefined;
  readonly method?: string;
  readonly path?: string;
}

/** Runs the HTTP filters in order, as Envoy does: the first filter that denies stops the request. */
export function allowedByHttpFilters(filters: readonly Json[], request: Request): boolean {
  for (const filter of filters) {
    const typed = filter.typed_config as Json;
    if (!String(typed['@type']).endsWith('.RBAC')) continue;
    const rules = typed.rules as { action: 'ALLOW' | 'DENY'; policies?: Record<string, Json> };
    const matched = Object.values(rules.policies ?? {}).some(
      (policy) =>
        (policy.permissions as Json[]).some((p) => permissionMatches(p, request)) &&
        (policy.principals as Json[]).some((p) => principalMatches(p, request)),
    );
    if (rules.action === 'ALLOW' && !matched) return false;
    if (rules.action === 'DENY' && matched) return false;
  }
  return true;
}

function stringMatches(matcher: Json, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (typeof matcher.exact === 'string') return value === matcher.exact;
  if (typeof matcher.prefix === 'string') return value.startsWith(matcher.prefix);
  if (matcher.safe_regex) return new RegExp((matcher.safe_regex as Json).regex as string).test(value);
  throw new Error(`unsupported matcher ${JSON.stringify(matcher)}`);
}

function permissionMatches(permission: Json, request: Request): boolean {
  if (permission.any === true) return true;
  if (permission.and_rules) return ((permission.and_rules as Json).rules as Json[]).every((p) => permissionMatches(p, request));
  if (permission.or_rules) return ((permission.or_rules as Json).rules as Json[]).some((p) => permissionMatches(p, request));
  if (permission.header) {
    const header = permission.header as Json;
    if (header.name !== ':method') throw new Error(`unsupported header ${String(header.name)}`);
    return stringMatches(header.string_match as Json, request.method);
  }
  if (permission.url_path) return stringMatches((permission.url_path as Json).path as Json, request.path);
  throw new Error(`unsupported permission ${JSON.stringify(permission)}`);
}

function principalMatches(principal: Json, request: Request): boolean {
  if (principal.any === true) return true;
  if (principal.authenticated) {
    const name = (principal.authenticated as Json).principal_name as Json | undefined;
    if (request.principal === undefined) return false;
    return name === undefined || stringMatches(name, request.principal);
  }
  throw new Error(`unsupported principal ${JSON.stringify(principal)}`);
}
