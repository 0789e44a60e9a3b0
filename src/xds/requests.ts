import type protobuf from 'protobufjs';
import type { NodeInfo } from './contract.js';

/** A request was malformed; ends the stream with INVALID_ARGUMENT carrying this message. */
export class BadRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BadRequestError';
  }
}

export interface ErrorDetail {
  readonly code: number;
  readonly message: string;
}

export interface SotwRequest {
  readonly versionInfo: string;
  readonly node: NodeInfo | undefined;
  readonly resourceNames: readonly string[];
  readonly typeUrl: string;
  readonly responseNonce: string;
  readonly errorDetail: ErrorDetail | undefined;
}

export interface DeltaRequest {
  readonly node: NodeInfo | undefined;
  readonly typeUrl: string;
  readonly subscribe: readonly string[];
  readonly unsubscribe: readonly string[];
  readonly initialVersions: ReadonlyMap<string, string>;
  readonly responseNonce: string;
  readonly errorDetail: ErrorDetail | undefined;
}

interface RawStatus {
  code?: number;
  message?: string;
}
interface RawLocality {
  region?: string;
  zone?: string;
  sub_zone?: string;
}
interface RawBuildVersion {
  version?: { major_number?: number; minor_number?: number; patch?: number };
}
interface RawNode {
  id?: string;
  cluster?: string;
  metadata?: RawStruct;
  locality?: RawLocality;
  user_agent_name?: string;
  user_agent_version?: string;
  user_agent_build_version?: RawBuildVersion;
  client_features?: string[];
}
interface RawStruct {
  fields?: Record<string, RawValue>;
}
interface RawValue {
  nullValue?: number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: RawStruct;
  listValue?: { values?: RawValue[] };
}
interface RawSotwRequest {
  version_info?: string;
  node?: RawNode;
  resource_names?: string[];
  type_url?: string;
  response_nonce?: string;
  error_detail?: RawStatus;
}
interface RawDeltaRequest {
  node?: RawNode;
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: RawStatus;
}

const NO_VERSIONS: ReadonlyMap<string, string> = new Map();

/** Decodes and checks DiscoveryRequest / DeltaDiscoveryRequest bytes with protobufjs. */
export class RequestDecoder {
  private readonly sotwType: protobuf.Type;
  private readonly deltaType: protobuf.Type;

  constructor(
    root: protobuf.Root,
    /** Names one request may carry; also the most names one Delta stream may subscribe to per type. */
    readonly maxResourceNames: number,
  ) {
    this.sotwType = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    this.deltaType = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  }

  decodeSotw(bytes: Uint8Array): SotwRequest {
    const raw = decodeWith<RawSotwRequest>(this.sotwType, bytes, 'DiscoveryRequest');
    const names = raw.resource_names ?? [];
    this.checkCount('resource_names', names.length);
    return {
      versionInfo: raw.version_info ?? '',
      node: raw.node ? nodeInfo(raw.node) : undefined,
      resourceNames: names,
      typeUrl: raw.type_url ?? '',
      responseNonce: raw.response_nonce ?? '',
      errorDetail: errorDetail(raw.error_detail),
    };
  }

  decodeDelta(bytes: Uint8Array): DeltaRequest {
    const raw = decodeWith<RawDeltaRequest>(this.deltaType, bytes, 'DeltaDiscoveryRequest');
    const subscribe = raw.resource_names_subscribe ?? [];
    const unsubscribe = raw.resource_names_unsubscribe ?? [];
    this.checkCount('resource_names_subscribe + resource_names_unsubscribe', subscribe.length + unsubscribe.length);
    const initial = raw.initial_resource_versions;
    let initialVersions = NO_VERSIONS;
    if (initial) {
      const entries = Object.entries(initial);
      this.checkCount('initial_resource_versions', entries.length);
      if (entries.length > 0) initialVersions = new Map(entries);
    }
    return {
      node: raw.node ? nodeInfo(raw.node) : undefined,
      typeUrl: raw.type_url ?? '',
      subscribe,
      unsubscribe,
      initialVersions,
      responseNonce: raw.response_nonce ?? '',
      errorDetail: errorDetail(raw.error_detail),
    };
  }

  private checkCount(field: string, count: number): void {
    if (count > this.maxResourceNames) {
      throw new BadRequestError(`${field}: ${count} names exceed the limit of ${this.maxResourceNames}`);
    }
  }
}

function decodeWith<T>(type: protobuf.Type, bytes: Uint8Array, what: string): T {
  try {
    return type.decode(bytes) as unknown as T;
  } catch (error) {
    throw new BadRequestError(`malformed ${what}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function errorDetail(raw: RawStatus | undefined): ErrorDetail | undefined {
  if (!raw) return undefined;
  return { code: raw.code ?? 0, message: raw.message ?? '' };
}

function nodeInfo(raw: RawNode): NodeInfo {
  const build = raw.user_agent_build_version?.version;
  const version =
    raw.user_agent_version || (build ? `${build.major_number ?? 0}.${build.minor_number ?? 0}.${build.patch ?? 0}` : '');
  const locality: { region?: string; zone?: string; subZone?: string } = {};
  if (raw.locality?.region) locality.region = raw.locality.region;
  if (raw.locality?.zone) locality.zone = raw.locality.zone;
  if (raw.locality?.sub_zone) locality.subZone = raw.locality.sub_zone;
  return {
    id: raw.id ?? '',
    cluster: raw.cluster ?? '',
    userAgentName: raw.user_agent_name ?? '',
    userAgentVersion: version,
    locality,
    clientFeatures: raw.client_features ?? [],
    metadata: raw.metadata ? structToJson(raw.metadata) : {},
  };
}

function structToJson(struct: RawStruct): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct.fields ?? {})) out[key] = valueToJson(value);
  return out;
}

/** Decoded messages carry set fields as own properties; unset oneof members fall back to prototype defaults. */
function valueToJson(value: RawValue): unknown {
  if (Object.hasOwn(value, 'structValue') && value.structValue) return structToJson(value.structValue);
  if (Object.hasOwn(value, 'listValue') && value.listValue) return (value.listValue.values ?? []).map(valueToJson);
  if (Object.hasOwn(value, 'stringValue')) return value.stringValue;
  if (Object.hasOwn(value, 'numberValue')) return value.numberValue;
  if (Object.hasOwn(value, 'boolValue')) return value.boolValue;
  return null;
}
