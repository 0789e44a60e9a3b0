/**
 * Validation of workload fields, shared by registration parsing (untrusted JSON) and the stores
 * (which refuse malformed workloads from any caller). Every problem is collected with its path.
 */
import { DEFAULT_GATEWAY_CERTIFICATE_DIRECTORY, PROTOCOLS, type GatewayRole, type Locality, type Protocol, type Upstream, type Workload } from '../core/workload.js';
import type { FieldError } from './errors.js';
import {
  FieldErrors,
  checkAddress,
  checkDns1123Label,
  checkLabelKey,
  checkLabelValue,
  checkPort,
  entryPath,
  isPlainObject,
} from './validation.js';

const HEALTH_STATUSES = ['HEALTHY', 'UNHEALTHY', 'DRAINING', 'UNKNOWN'] as const;
const LOCALITY_FIELDS = ['region', 'zone', 'subZone'] as const;

export function checkProtocol(value: unknown): string | undefined {
  return typeof value === 'string' && (PROTOCOLS as readonly string[]).includes(value)
    ? undefined
    : `must be one of ${PROTOCOLS.join(', ')}`;
}

export function isProtocol(value: unknown): value is Protocol {
  return checkProtocol(value) === undefined;
}

export function checkUnknownFields(
  value: Record<string, unknown>,
  allowed: readonly string[],
  path: string,
  errors: FieldErrors,
): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) errors.add(join(path, key), 'unknown field');
  }
}

export function join(path: string, field: string): string {
  return path === '' ? field : `${path}.${field}`;
}

export function parseLabels(value: unknown, path: string, errors: FieldErrors): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    errors.add(path, 'must be an object of string keys and values');
    return {};
  }
  const labels: Record<string, string> = {};
  for (const [key, labelValue] of Object.entries(value)) {
    const field = entryPath(path, key);
    const keyError = checkLabelKey(key);
    errors.add(field, keyError === undefined ? undefined : `key ${keyError}`);
    const valueError = checkLabelValue(labelValue);
    errors.add(field, valueError === undefined ? undefined : `value ${valueError}`);
    if (keyError === undefined && valueError === undefined) labels[key] = labelValue as string;
  }
  return labels;
}

export function parseLocality(value: unknown, path: string, errors: FieldErrors): Locality {
  if (value === undefined) return {};
  if (!isPlainObject(value)) {
    errors.add(path, 'must be an object with region, zone and subZone');
    return {};
  }
  checkUnknownFields(value, LOCALITY_FIELDS, path, errors);
  const locality: { region?: string; zone?: string; subZone?: string } = {};
  for (const field of LOCALITY_FIELDS) {
    const part = value[field];
    if (part === undefined) continue;
    const error = typeof part === 'string' && part.length === 0 ? 'must not be empty' : checkLabelValue(part);
    errors.add(join(path, field), error);
    if (error === undefined) locality[field] = part as string;
  }
  // Priorities compare region, then zone (docs/configuration.md): a sub-zone means nothing without its zone.
  if (locality.subZone !== undefined && locality.zone === undefined) errors.add(join(path, 'subZone'), 'needs a zone');
  return locality;
}

const MAX_DIRECTORY_LENGTH = 1024;

/**
 * `gateway: {}` or `gateway: { certificateDirectory: "/etc/accord/gateway-certs" }`. The
 * directory must be absolute and plain (no `..`, no control characters): it ends up in the
 * gateway Envoy's configuration as a file path.
 */
export function parseGatewayRole(value: unknown, path: string, errors: FieldErrors): GatewayRole | undefined {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) {
    errors.add(path, 'must be an object (optionally with certificateDirectory)');
    return undefined;
  }
  checkUnknownFields(value, ['certificateDirectory'], path, errors);
  const directory = value.certificateDirectory ?? DEFAULT_GATEWAY_CERTIFICATE_DIRECTORY;
  const ok =
    typeof directory === 'string' &&
    directory.length <= MAX_DIRECTORY_LENGTH &&
    /^\/[A-Za-z0-9._\-/]*$/.test(directory) &&
    !directory.split('/').includes('..');
  errors.add(join(path, 'certificateDirectory'), ok ? undefined : `must be an absolute path of at most ${MAX_DIRECTORY_LENGTH} letters, digits, ".", "_", "-" and "/", without ".."`);
  return ok ? { certificateDirectory: (directory as string).replace(/\/+$/, '') || '/' } : undefined;
}

/** Upstreams; a missing namespace defaults to `defaultNamespace`. Local ports must be distinct. */
export function parseUpstreams(
  value: unknown,
  defaultNamespace: string,
  path: string,
  errors: FieldErrors,
): Upstream[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    errors.add(path, 'must be an array');
    return [];
  }
  const upstreams: Upstream[] = [];
  const localPorts = new Map<number, number>();
  value.forEach((item: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    if (!isPlainObject(item)) {
      errors.add(itemPath, 'must be an object with service, namespace and localPort');
      return;
    }
    checkUnknownFields(item, ['service', 'namespace', 'localPort'], itemPath, errors);
    const serviceError = checkDns1123Label(item.service);
    errors.add(join(itemPath, 'service'), item.service === undefined ? 'is required' : serviceError);
    // A defaulted namespace is the workload's own, which is checked (and reported) there.
    const namespace = item.namespace ?? defaultNamespace;
    const namespaceError = item.namespace === undefined ? undefined : checkDns1123Label(item.namespace);
    errors.add(join(itemPath, 'namespace'), namespaceError);
    const portError = item.localPort === undefined ? 'is required' : checkPort(item.localPort);
    errors.add(join(itemPath, 'localPort'), portError);
    if (portError === undefined) {
      const previous = localPorts.get(item.localPort as number);
      if (previous !== undefined) {
        errors.add(join(itemPath, 'localPort'), `duplicates upstreams[${previous}].localPort`);
      } else {
        localPorts.set(item.localPort as number, index);
      }
    }
    if (serviceError === undefined && namespaceError === undefined && portError === undefined) {
      upstreams.push({
        service: item.service as string,
        namespace: namespace as string,
        localPort: item.localPort as number,
      });
    }
  });
  return upstreams;
}

const WORKLOAD_FIELDS = [
  'id',
  'service',
  'namespace',
  'serviceAccount',
  'address',
  'port',
  'meshPort',
  'protocol',
  'labels',
  'locality',
  'health',
  'upstreams',
  'leaseMs',
  'gateway',
] as const;

/** Checks that a value is a well-formed `Workload` (every problem, with its field). */
export function validateWorkload(value: unknown): readonly FieldError[] {
  const errors = new FieldErrors();
  if (!isPlainObject(value)) {
    errors.add('workload', 'must be an object');
    return errors.errors;
  }
  checkUnknownFields(value, WORKLOAD_FIELDS, '', errors);
  for (const field of ['id', 'service', 'namespace', 'serviceAccount'] as const) {
    errors.add(field, value[field] === undefined ? 'is required' : checkDns1123Label(value[field]));
  }
  errors.add('address', value.address === undefined ? 'is required' : checkAddress(value.address));
  errors.add('port', checkPort(value.port));
  errors.add('meshPort', checkPort(value.meshPort));
  errors.add('protocol', checkProtocol(value.protocol));
  if (value.labels === undefined) errors.add('labels', 'is required');
  parseLabels(value.labels, 'labels', errors);
  if (value.locality === undefined) errors.add('locality', 'is required');
  parseLocality(value.locality, 'locality', errors);
  if (!(HEALTH_STATUSES as readonly unknown[]).includes(value.health)) {
    errors.add('health', `must be one of ${HEALTH_STATUSES.join(', ')}`);
  }
  if (value.upstreams === undefined) errors.add('upstreams', 'is required');
  const namespace = typeof value.namespace === 'string' ? value.namespace : 'default';
  parseUpstreams(value.upstreams, namespace, 'upstreams', errors);
  if (Array.isArray(value.upstreams)) {
    value.upstreams.forEach((u: unknown, i) => {
      if (isPlainObject(u) && u.namespace === undefined) errors.add(`upstreams[${i}].namespace`, 'is required');
    });
  }
  parseGatewayRole(value.gateway, 'gateway', errors);
  if (value.leaseMs !== undefined) {
    const ok = typeof value.leaseMs === 'number' && Number.isInteger(value.leaseMs) && value.leaseMs > 0;
    errors.add('leaseMs', ok ? undefined : 'must be a positive integer (milliseconds)');
  }
  return errors.errors;
}

/** Narrowing form of `validateWorkload` for trusted-looking input. */
export function isValidWorkload(value: unknown): value is Workload {
  return validateWorkload(value).length === 0;
}
