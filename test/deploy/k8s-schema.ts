/**
 * Validates a Kubernetes object against the API's OpenAPI schema as shipped by the
 * `kubernetes-models` package (compiled validators, no network), and — as the API server's strict
 * field validation does — reports fields the schema does not know (a typo such as `readinesProbe`
 * is otherwise silently dropped by Kubernetes).
 *
 * Unknown fields are found by watching the validator: it reads every property its schema defines
 * and enumerates free-form maps (labels, data), so a key of a fixed-shape object that it never read
 * is not part of the schema.
 */
import type { Manifest } from './helm.js';

type Validator = ((data: unknown) => boolean) & { errors?: { instancePath: string; message?: string }[] | null };

const GROUPS: Record<string, string> = {
  v1: 'CoreV1',
  'apps/v1': 'AppsV1',
  'policy/v1': 'PolicyV1',
  'autoscaling/v2': 'AutoscalingV2',
  'networking.k8s.io/v1': 'NetworkingV1',
  'batch/v1': 'BatchV1',
};

async function validatorFor(apiVersion: string, kind: string): Promise<Validator> {
  const group = GROUPS[apiVersion];
  if (group === undefined) throw new Error(`no schema known for apiVersion ${apiVersion} (kind ${kind}); add it to test/deploy/k8s-schema.ts`);
  const module = (await import(`kubernetes-models/_schemas/IoK8sApi${group}${kind}`)) as { validate: Validator };
  return module.validate;
}

interface Tracked {
  readonly proxy: unknown;
  readonly unknownFields: () => string[];
}

function track(value: unknown, path: string): Tracked {
  if (value === null || typeof value !== 'object') return { proxy: value, unknownFields: () => [] };
  const children: Tracked[] = [];
  const copy: Record<string, unknown> | unknown[] = Array.isArray(value) ? [] : {};
  for (const [key, child] of Object.entries(value)) {
    const tracked = track(child, Array.isArray(value) ? `${path}[${key}]` : `${path}.${key}`);
    children.push(tracked);
    (copy as Record<string, unknown>)[key] = tracked.proxy;
  }
  const read = new Set<string>();
  let enumerated = false;
  const proxy = new Proxy(copy, {
    get(target, key, receiver) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key, receiver) as unknown;
    },
    has(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.has(target, key);
    },
    ownKeys(target) {
      enumerated = true;
      return Reflect.ownKeys(target);
    },
  });
  return {
    proxy,
    unknownFields: () => {
      const own = Array.isArray(value) || enumerated ? [] : Object.keys(value).filter((key) => !read.has(key)).map((key) => `${path}.${key}`);
      return [...own, ...children.flatMap((child) => child.unknownFields())];
    },
  };
}

/** Every schema violation and unknown field of the object, as `Kind/name: path: message` lines. */
export async function schemaProblems(manifest: Manifest): Promise<string[]> {
  const where = `${manifest.kind}/${manifest.metadata?.name ?? '?'}`;
  const validate = await validatorFor(manifest.apiVersion, manifest.kind);
  const tracked = track(manifest, '');
  const problems: string[] = [];
  if (!validate(tracked.proxy)) {
    for (const error of validate.errors ?? []) problems.push(`${where}: ${error.instancePath || '/'}: ${error.message ?? 'invalid'}`);
  }
  for (const field of tracked.unknownFields()) problems.push(`${where}: ${field}: unknown field`);
  return problems;
}
