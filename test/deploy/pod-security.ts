/**
 * The Pod Security Standards' `restricted` profile (kubernetes.io/docs/concepts/security/pod-security-standards),
 * checked on a pod spec, plus what this project adds: a read-only root filesystem, a numeric
 * non-root user, and requests and limits on every container.
 */
import type { Manifest } from './helm.js';

export interface PodSpec {
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  securityContext?: SecurityContext & { sysctls?: unknown[] };
  volumes?: Record<string, unknown>[];
  containers: Container[];
  initContainers?: Container[];
}

export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  seccompProfile?: { type?: string };
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  readOnlyRootFilesystem?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  procMount?: string;
}

export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: unknown }[];
  ports?: { containerPort: number; hostPort?: number; name?: string }[];
  securityContext?: SecurityContext;
  resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  startupProbe?: unknown;
  readinessProbe?: unknown;
  livenessProbe?: unknown;
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
}

const ALLOWED_VOLUME_TYPES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);

/** The pod templates of workload objects (and bare pods). */
export function podSpecs(manifests: readonly Manifest[]): { owner: string; spec: PodSpec; labels: Record<string, string> }[] {
  const out: { owner: string; spec: PodSpec; labels: Record<string, string> }[] = [];
  for (const m of manifests) {
    const owner = `${m.kind}/${m.metadata.name}`;
    const spec = m.spec as { template?: { metadata?: { labels?: Record<string, string> }; spec: PodSpec }; jobTemplate?: { spec: { template: { spec: PodSpec } } } } | undefined;
    if (m.kind === 'Pod') out.push({ owner, spec: m.spec as PodSpec, labels: (m.metadata as { labels?: Record<string, string> }).labels ?? {} });
    else if (spec?.template) out.push({ owner, spec: spec.template.spec, labels: spec.template.metadata?.labels ?? {} });
    else if (spec?.jobTemplate) out.push({ owner, spec: spec.jobTemplate.spec.template.spec, labels: {} });
  }
  return out;
}

export function restrictedViolations(owner: string, pod: PodSpec): string[] {
  const problems: string[] = [];
  const bad = (what: string): void => void problems.push(`${owner}: ${what}`);
  if (pod.hostNetwork || pod.hostPID || pod.hostIPC) bad('host namespaces are not allowed');
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== 'name');
    if (type === undefined || !ALLOWED_VOLUME_TYPES.has(type)) bad(`volume ${String(volume.name)}: type ${type} is not allowed`);
  }
  const podContext = pod.securityContext ?? {};
  for (const container of [...(pod.initContainers ?? []), ...pod.containers]) {
    const where = `container ${container.name}`;
    const context = container.securityContext ?? {};
    if (context.privileged) bad(`${where}: privileged`);
    if (context.allowPrivilegeEscalation !== false) bad(`${where}: allowPrivilegeEscalation must be false`);
    if (!(context.capabilities?.drop ?? []).includes('ALL')) bad(`${where}: capabilities.drop must include ALL`);
    for (const added of context.capabilities?.add ?? []) if (added !== 'NET_BIND_SERVICE') bad(`${where}: capability ${added} may not be added`);
    if (context.procMount !== undefined && context.procMount !== 'Default') bad(`${where}: procMount must be Default`);
    const runAsNonRoot = context.runAsNonRoot ?? podContext.runAsNonRoot;
    if (runAsNonRoot !== true) bad(`${where}: runAsNonRoot must be true (pod or container)`);
    const user = context.runAsUser ?? podContext.runAsUser;
    if (typeof user !== 'number' || !Number.isInteger(user) || user === 0) bad(`${where}: runAsUser must be a numeric non-root user (pod or container), got ${String(user)}`);
    const seccomp = context.seccompProfile?.type ?? podContext.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') bad(`${where}: seccompProfile must be RuntimeDefault or Localhost`);
    if (context.readOnlyRootFilesystem !== true) bad(`${where}: readOnlyRootFilesystem must be true`);
    for (const port of container.ports ?? []) if (port.hostPort !== undefined && port.hostPort !== 0) bad(`${where}: hostPort ${port.hostPort}`);
    const requests = container.resources?.requests ?? {};
    const limits = container.resources?.limits ?? {};
    if (requests.cpu === undefined || requests.memory === undefined) bad(`${where}: cpu and memory requests are required`);
    if (limits.memory === undefined || limits.cpu === undefined) bad(`${where}: cpu and memory limits are required`);
  }
  return problems;
}
