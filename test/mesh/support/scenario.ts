/**
 * Test-only loader: one YAML file holding registry workloads and already-validated policies
 * (PolicySet shapes, durations in ms). The real policy loader lives in src/config; this one only
 * fills defaults so scenarios stay short.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import {
  DEFAULT_MESH,
  type AuthorizationPolicySpec,
  type PolicyDocument,
  type MeshSpec,
  type Metadata,
  type PolicySet,
  type TrafficPolicySpec,
  type UpstreamPolicySpec,
} from '../../../src/core/policy.js';
import type { GatewayRole, HealthStatus, Locality, Protocol, Workload } from '../../../src/core/workload.js';
import { formatPolicyError, parsePolicyDocuments } from '../../../src/config/index.js';
import type { Flavour, MeshInput } from '../../../src/mesh/index.js';

export interface ScenarioWorkload {
  id: string;
  service: string;
  namespace?: string;
  serviceAccount?: string;
  address: string;
  port: number;
  meshPort?: number;
  protocol?: Protocol;
  labels?: Record<string, string>;
  locality?: Locality;
  health?: HealthStatus;
  upstreams?: { service: string; namespace?: string; localPort: number }[];
  gateway?: GatewayRole;
}

interface ScenarioPolicy<S> {
  metadata: { name: string; namespace?: string };
  spec: S;
}

export interface ScenarioFile {
  revision?: number;
  mesh?: Partial<Omit<MeshSpec, 'certificates'>> & { certificates?: Partial<MeshSpec['certificates']> };
  workloads?: ScenarioWorkload[];
  trafficPolicies?: ScenarioPolicy<TrafficPolicySpec>[];
  authorizationPolicies?: ScenarioPolicy<AuthorizationPolicySpec>[];
  upstreamPolicies?: ScenarioPolicy<UpstreamPolicySpec>[];
  /** `Gateway` and `HTTPRoute` documents as operators write them (validated by the real loader). */
  gatewayApi?: unknown[];
  /** Which proxies to translate; default: every workload in the envoy flavour. */
  proxies?: { workload: string; flavour: Flavour }[];
}

export interface Scenario {
  readonly input: MeshInput;
  readonly proxies: readonly { readonly workload: string; readonly flavour: Flavour }[];
}

export function loadScenarioFile(path: string): Scenario {
  return scenarioFrom(parse(readFileSync(path, 'utf8')) as ScenarioFile);
}

export function workloadFrom(w: ScenarioWorkload): Workload {
  const namespace = w.namespace ?? 'default';
  return {
    id: w.id,
    service: w.service,
    namespace,
    serviceAccount: w.serviceAccount ?? w.service,
    address: w.address,
    port: w.port,
    meshPort: w.meshPort ?? w.port,
    protocol: w.protocol ?? 'http',
    labels: w.labels ?? {},
    locality: w.locality ?? {},
    health: w.health ?? 'HEALTHY',
    upstreams: (w.upstreams ?? []).map((u) => ({ service: u.service, namespace: u.namespace ?? namespace, localPort: u.localPort })),
    ...(w.gateway !== undefined && { gateway: w.gateway }),
  };
}

function metadataFrom(m: { name: string; namespace?: string }): Metadata {
  return { name: m.name, namespace: m.namespace ?? 'default' };
}

function gatewayApiPolicies(documents: readonly unknown[]): Pick<PolicySet, 'gateways' | 'httpRoutes'> {
  if (documents.length === 0) return { gateways: [], httpRoutes: [] };
  const parsed = parsePolicyDocuments(documents, 'scenario gatewayApi');
  if (!parsed.ok) throw new Error(`scenario gatewayApi documents are invalid:\n${parsed.errors.map(formatPolicyError).join('\n')}`);
  return { gateways: parsed.policySet.gateways, httpRoutes: parsed.policySet.httpRoutes };
}

export function scenarioFrom(file: ScenarioFile): Scenario {
  const mesh: MeshSpec = {
    ...DEFAULT_MESH,
    ...file.mesh,
    certificates: { ...DEFAULT_MESH.certificates, ...file.mesh?.certificates },
  };
  const policies: PolicySet = {
    mesh,
    trafficPolicies: (file.trafficPolicies ?? []).map((p) => ({ kind: 'TrafficPolicy', metadata: metadataFrom(p.metadata), spec: p.spec })),
    authorizationPolicies: (file.authorizationPolicies ?? []).map((p) => ({
      kind: 'AuthorizationPolicy',
      metadata: metadataFrom(p.metadata),
      spec: p.spec,
    })),
    upstreamPolicies: (file.upstreamPolicies ?? []).map((p) => ({ kind: 'UpstreamPolicy', metadata: metadataFrom(p.metadata), spec: p.spec })),
    ...gatewayApiPolicies(file.gatewayApi ?? []),
  };
  const workloads = new Map((file.workloads ?? []).map((w) => [w.id, workloadFrom(w)]));
  const proxies = file.proxies ?? [...workloads.keys()].map((workload) => ({ workload, flavour: 'envoy' as const }));
  return { input: { revision: file.revision ?? 1, workloads, policies }, proxies };
}

/** The scenario's policies as operator documents (a `Mesh` named default, then the rest). */
export function scenarioDocuments(scenario: Scenario): PolicyDocument[] {
  const { mesh, trafficPolicies, authorizationPolicies, upstreamPolicies, gateways, httpRoutes } = scenario.input.policies;
  return [
    { kind: 'Mesh', metadata: { name: 'default', namespace: 'default' }, spec: mesh },
    ...trafficPolicies,
    ...authorizationPolicies,
    ...upstreamPolicies,
    ...gateways,
    ...httpRoutes,
  ];
}
