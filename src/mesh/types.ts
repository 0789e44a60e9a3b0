import type { Workload } from '../core/workload.js';
import type { PolicySet } from '../core/policy.js';

/** An immutable snapshot of everything translation reads. */
export interface MeshInput {
  readonly revision: number;
  /** By workload id. */
  readonly workloads: ReadonlyMap<string, Workload>;
  /** Mesh settings, traffic and authorization policies. */
  readonly policies: PolicySet;
}

export type Flavour = 'envoy' | 'grpc';

/** A plain resource in Envoy's proto-JSON form (snake_case fields, Any as `{"@type": url, ...}`). */
export type Resource = Readonly<Record<string, unknown>>;

/** Type URL → resource name → resource. */
export type ProxyResources = ReadonlyMap<string, ReadonlyMap<string, Resource>>;

/** Something the translator left out or changed, with the reason, for logs and status pages. */
export interface TranslationNote {
  readonly code:
    | 'ENDPOINT_NOT_IP'
    | 'UPSTREAM_PROTOCOL_UNSUPPORTED'
    | 'HTTP_RULE_ON_TCP_SERVICE'
    | 'RETRY_CONDITION_UNSUPPORTED'
    | 'LOAD_BALANCER_UNSUPPORTED'
    | 'MIXED_PROTOCOLS'
    | 'SERVER_ADDRESS_NOT_IP'
    | 'LOCAL_PORT_CONFLICT'
    | 'OUTLIER_DETECTION_APPROXIMATED'
    | 'GATEWAY_NOT_CONFIGURED';
  readonly message: string;
}

export interface Translation {
  readonly resources: ProxyResources;
  readonly notes: readonly TranslationNote[];
}

export class UnknownWorkloadError extends Error {
  readonly code = 'UNKNOWN_WORKLOAD';
  constructor(readonly workloadId: string) {
    super(`unknown workload: ${workloadId}`);
    this.name = 'UnknownWorkloadError';
  }
}

/** `envoy` for Envoy; `grpc` for any gRPC library's user agent (e.g. `gRPC Node Pure JS`, `grpc-go`). */
export function flavourOf(userAgentName: string): Flavour {
  return /^grpc/i.test(userAgentName.trim()) ? 'grpc' : 'envoy';
}
