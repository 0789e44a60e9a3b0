/**
 * Parses a registration body (docs/registry.md, `POST /v1/workloads`) into a Workload, applying the
 * documented defaults. Unknown fields are errors; every error is reported with its field.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Protocol, Workload } from '../core/workload.js';
import type { FieldError } from './errors.js';
import { parseDuration } from '../core/duration.js';
import { FieldErrors, checkAddress, checkDns1123Label, checkPort, isPlainObject } from './validation.js';
import { checkProtocol, checkUnknownFields, parseGatewayRole, parseLabels, parseLocality, parseUpstreams } from './workload-validation.js';

export type RegistrationResult =
  | { readonly ok: true; readonly workload: Workload }
  | { readonly ok: false; readonly errors: readonly FieldError[] };

export const REGISTRATION_FIELDS = [
  'service',
  'address',
  'port',
  'namespace',
  'serviceAccount',
  'protocol',
  'meshPort',
  'labels',
  'locality',
  'ttl',
  'upstreams',
  'gateway',
] as const;

export const MIN_TTL_MS = 1000;
export const MAX_TTL_MS = 24 * 3_600_000;
const MAX_ID_LENGTH = 63;
const SUFFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** A random DNS-1123-safe id suffix (lowercase letters and digits), 10 characters by default. */
export function randomIdSuffix(length = 10): string {
  const bytes = randomBytes(length);
  let suffix = '';
  for (const byte of bytes) suffix += SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length];
  return suffix;
}

/**
 * The id suffix of the workload at `namespace/service` on `address:port`: the same registration
 * gets the same id on every replica and after every restart (Consul re-registers by id the same
 * way). `generation` moves to a fresh id when the previous one was retired (revoked).
 */
export function endpointIdSuffix(endpoint: { namespace: string; service: string; address: string; port: number }, generation = 0, length = 10): string {
  const digest = createHash('sha256').update(JSON.stringify([endpoint.namespace, endpoint.service, endpoint.address, endpoint.port, generation])).digest();
  let suffix = '';
  for (const byte of digest.subarray(0, length)) suffix += SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length];
  return suffix;
}

/** `<service>-<suffix>`, the service part shortened so the id stays a DNS-1123 label (≤ 63). */
export function workloadId(service: string, suffix: string): string {
  const room = MAX_ID_LENGTH - suffix.length - 1;
  const head = service.slice(0, Math.max(room, 1)).replace(/-+$/, '');
  return `${head}-${suffix}`;
}

/** What the id may be derived from: the fields that make a registration the same one. */
export interface RegistrationEndpoint {
  readonly namespace: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
}

/**
 * @param idFactory returns the id suffix (lowercase letters and digits) for the registration's
 *   endpoint; the id is `<service>-<suffix>`. Default: random. Inject a deterministic one in tests.
 */
export function parseRegistration(body: unknown, idFactory: (endpoint: RegistrationEndpoint) => string = () => randomIdSuffix()): RegistrationResult {
  const errors = new FieldErrors();
  if (!isPlainObject(body)) {
    return { ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }] };
  }
  checkUnknownFields(body, REGISTRATION_FIELDS, '', errors);

  const service = body.service;
  errors.add('service', service === undefined ? 'is required' : checkDns1123Label(service));
  errors.add('address', body.address === undefined ? 'is required' : checkAddress(body.address));
  errors.add('port', body.port === undefined ? 'is required' : checkPort(body.port));

  const namespace = body.namespace ?? 'default';
  errors.add('namespace', checkDns1123Label(namespace));
  const serviceAccount = body.serviceAccount ?? service;
  if (body.serviceAccount !== undefined) errors.add('serviceAccount', checkDns1123Label(serviceAccount));
  const protocol = body.protocol ?? 'http';
  errors.add('protocol', checkProtocol(protocol));
  const meshPort = body.meshPort ?? body.port;
  if (body.meshPort !== undefined) errors.add('meshPort', checkPort(meshPort));

  const labels = parseLabels(body.labels, 'labels', errors);
  const locality = parseLocality(body.locality, 'locality', errors);
  const upstreams = parseUpstreams(
    body.upstreams,
    typeof namespace === 'string' ? namespace : 'default',
    'upstreams',
    errors,
  );
  const leaseMs = parseTtl(body.ttl, errors);
  const gateway = parseGatewayRole(body.gateway, 'gateway', errors);

  if (!errors.empty) return { ok: false, errors: errors.errors };

  const suffix = idFactory({ namespace: namespace as string, service: service as string, address: body.address as string, port: body.port as number });
  const id = workloadId(service as string, suffix);
  const idError = checkDns1123Label(id);
  if (idError !== undefined) return { ok: false, errors: [{ field: 'id', message: `generated id ${idError}` }] };

  const workload: Workload = {
    id,
    service: service as string,
    namespace: namespace as string,
    serviceAccount: serviceAccount as string,
    address: body.address as string,
    port: body.port as number,
    meshPort: meshPort as number,
    protocol: protocol as Protocol,
    labels,
    locality,
    health: 'HEALTHY',
    upstreams,
    ...(leaseMs === undefined ? {} : { leaseMs }),
    ...(gateway === undefined ? {} : { gateway }),
  };
  return { ok: true, workload };
}

function parseTtl(value: unknown, errors: FieldErrors): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    errors.add('ttl', 'must be a duration string such as "30s"');
    return undefined;
  }
  const parsed = parseDuration(value);
  if (!parsed.ok) {
    errors.add('ttl', parsed.reason);
    return undefined;
  }
  const ms = parsed.ms;
  if (ms < MIN_TTL_MS || ms > MAX_TTL_MS) {
    errors.add('ttl', 'must be between 1s and 24h');
    return undefined;
  }
  return ms;
}
