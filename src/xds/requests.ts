import protobuf from 'protobufjs';
import { TypeUrl, type NodeInfo } from './contract.js';

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

/** Longest `node.id` accepted (docs/configuration.md); longer is INVALID_ARGUMENT. */
export const MAX_NODE_ID_LENGTH = 1024;
/** Longest `node.cluster`, `node.user_agent_name` and `node.user_agent_version`. */
export const MAX_NODE_FIELD_LENGTH = 1024;
/** Most `node.client_features`, and the longest one. */
export const MAX_CLIENT_FEATURES = 128;
/** `node.metadata`: most values (at any depth) and most characters of keys and strings together. */
export const MAX_METADATA_VALUES = 4096;
export const MAX_METADATA_CHARS = 64 * 1024;
/** Longest `type_url`. */
export const MAX_TYPE_URL_LENGTH = 512;
/** Longest resource name (subscribed, unsubscribed or in initial_resource_versions). */
export const MAX_RESOURCE_NAME_LENGTH = 4096;
/** `error_detail.message` is kept (for status and CSDS) up to this many characters. */
export const MAX_ERROR_DETAIL_LENGTH = 4096;

/**
 * DiscoveryRequest and DeltaDiscoveryRequest without `node` (and locators, which are not
 * served). Envoy repeats the node on every request unless told not to; after the first request of
 * a stream it is skipped on the wire instead of being decoded and thrown away. Field numbers as
 * in envoy/service/discovery/v3/discovery.proto and google/rpc/status.proto.
 */
function requestsWithoutNode(): { sotw: protobuf.Type; delta: protobuf.Type } {
  const root = protobuf.Root.fromJSON({
    nested: {
      Status: { fields: { code: { type: 'int32', id: 1 }, message: { type: 'string', id: 2 } } },
      DiscoveryRequest: {
        fields: {
          version_info: { type: 'string', id: 1 },
          resource_names: { rule: 'repeated', type: 'string', id: 3 },
          type_url: { type: 'string', id: 4 },
          response_nonce: { type: 'string', id: 5 },
          error_detail: { type: 'Status', id: 6 },
        },
      },
      DeltaDiscoveryRequest: {
        fields: {
          type_url: { type: 'string', id: 2 },
          resource_names_subscribe: { rule: 'repeated', type: 'string', id: 3 },
          resource_names_unsubscribe: { rule: 'repeated', type: 'string', id: 4 },
          initial_resource_versions: { keyType: 'string', type: 'string', id: 5 } as protobuf.IMapField,
          response_nonce: { type: 'string', id: 6 },
          error_detail: { type: 'Status', id: 7 },
        },
      },
    },
  });
  return { sotw: root.lookupType('DiscoveryRequest'), delta: root.lookupType('DeltaDiscoveryRequest') };
}

/** Decodes and checks DiscoveryRequest / DeltaDiscoveryRequest bytes with protobufjs. */
export class RequestDecoder {
  private readonly sotwType: protobuf.Type;
  private readonly deltaType: protobuf.Type;
  private readonly withoutNode = requestsWithoutNode();

  constructor(
    root: protobuf.Root,
    /** Names one request may carry; also the most names one Delta stream may subscribe to per type. */
    readonly maxResourceNames: number,
  ) {
    this.sotwType = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    this.deltaType = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
  }

  /** `withNode: false` skips the node (the stream already has it). */
  decodeSotw(bytes: Uint8Array, withNode = true): SotwRequest {
    const raw = decodeWith<RawSotwRequest>(withNode ? this.sotwType : this.withoutNode.sotw, bytes, 'DiscoveryRequest');
    const names = raw.resource_names ?? [];
    this.checkCount('resource_names', names.length);
    checkNames('resource_names', names);
    return {
      versionInfo: raw.version_info ?? '',
      node: raw.node ? nodeInfo(raw.node) : undefined,
      resourceNames: names,
      typeUrl: checkedTypeUrl(raw.type_url),
      responseNonce: raw.response_nonce ?? '',
      errorDetail: errorDetail(raw.error_detail),
    };
  }

  decodeDelta(bytes: Uint8Array, withNode = true): DeltaRequest {
    const raw = decodeWith<RawDeltaRequest>(withNode ? this.deltaType : this.withoutNode.delta, bytes, 'DeltaDiscoveryRequest');
    const subscribe = raw.resource_names_subscribe ?? [];
    const unsubscribe = raw.resource_names_unsubscribe ?? [];
    this.checkCount('resource_names_subscribe + resource_names_unsubscribe', subscribe.length + unsubscribe.length);
    checkNames('resource_names_subscribe', subscribe);
    checkNames('resource_names_unsubscribe', unsubscribe);
    const initial = raw.initial_resource_versions;
    let initialVersions = NO_VERSIONS;
    if (initial) {
      const entries = Object.entries(initial);
      this.checkCount('initial_resource_versions', entries.length);
      checkNames('initial_resource_versions', entries.map(([name]) => name));
      checkNames('initial_resource_versions (version)', entries.map(([, version]) => version));
      if (entries.length > 0) initialVersions = new Map(entries);
    }
    return {
      node: raw.node ? nodeInfo(raw.node) : undefined,
      typeUrl: checkedTypeUrl(raw.type_url),
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
  const message = raw.message ?? '';
  return { code: raw.code ?? 0, message: message.length > MAX_ERROR_DETAIL_LENGTH ? `${message.slice(0, MAX_ERROR_DETAIL_LENGTH)}…` : message };
}

/** Known type URLs as one shared string each: a stream keeps the type URL of every sub-stream it opens. */
const CANONICAL_TYPE_URLS: ReadonlyMap<string, string> = new Map(Object.values(TypeUrl).map((url) => [url, url]));

function checkedTypeUrl(typeUrl: string | undefined): string {
  const value = typeUrl ?? '';
  if (value.length > MAX_TYPE_URL_LENGTH) throw new BadRequestError(`type_url: ${value.length} characters exceed the limit of ${MAX_TYPE_URL_LENGTH}`);
  return CANONICAL_TYPE_URLS.get(value) ?? value;
}

function checkNames(field: string, names: readonly string[]): void {
  for (const name of names) {
    if (name.length > MAX_RESOURCE_NAME_LENGTH) {
      throw new BadRequestError(`${field}: a name of ${name.length} characters exceeds the limit of ${MAX_RESOURCE_NAME_LENGTH}`);
    }
  }
}

function checkLength(field: string, value: string, limit: number): string {
  if (value.length > limit) throw new BadRequestError(`${field}: ${value.length} characters exceed the limit of ${limit}`);
  return value;
}

function nodeInfo(raw: RawNode): NodeInfo {
  const build = raw.user_agent_build_version?.version;
  const version =
    raw.user_agent_version || (build ? `${build.major_number ?? 0}.${build.minor_number ?? 0}.${build.patch ?? 0}` : '');
  const locality: { region?: string; zone?: string; subZone?: string } = {};
  if (raw.locality?.region) locality.region = checkLength('node.locality.region', raw.locality.region, MAX_NODE_FIELD_LENGTH);
  if (raw.locality?.zone) locality.zone = checkLength('node.locality.zone', raw.locality.zone, MAX_NODE_FIELD_LENGTH);
  if (raw.locality?.sub_zone) locality.subZone = checkLength('node.locality.sub_zone', raw.locality.sub_zone, MAX_NODE_FIELD_LENGTH);
  const features = raw.client_features ?? [];
  if (features.length > MAX_CLIENT_FEATURES) {
    throw new BadRequestError(`node.client_features: ${features.length} entries exceed the limit of ${MAX_CLIENT_FEATURES}`);
  }
  for (const feature of features) checkLength('node.client_features', feature, MAX_NODE_FIELD_LENGTH);
  return {
    id: checkLength('node.id', raw.id ?? '', MAX_NODE_ID_LENGTH),
    cluster: checkLength('node.cluster', raw.cluster ?? '', MAX_NODE_FIELD_LENGTH),
    userAgentName: checkLength('node.user_agent_name', raw.user_agent_name ?? '', MAX_NODE_FIELD_LENGTH),
    userAgentVersion: checkLength('node.user_agent_version', version, MAX_NODE_FIELD_LENGTH),
    locality,
    clientFeatures: features,
    metadata: raw.metadata ? structToJson(raw.metadata, { values: 0, chars: 0 }) : {},
  };
}

interface MetadataBudget {
  values: number;
  chars: number;
}

function spend(budget: MetadataBudget, chars: number): void {
  budget.values += 1;
  budget.chars += chars;
  if (budget.values > MAX_METADATA_VALUES) throw new BadRequestError(`node.metadata: more than ${MAX_METADATA_VALUES} values`);
  if (budget.chars > MAX_METADATA_CHARS) throw new BadRequestError(`node.metadata: more than ${MAX_METADATA_CHARS} characters of keys and strings`);
}

function structToJson(struct: RawStruct, budget: MetadataBudget): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(struct.fields ?? {})) {
    spend(budget, key.length);
    out[key] = valueToJson(value, budget);
  }
  return out;
}

/** Decoded messages carry set fields as own properties; unset oneof members fall back to prototype defaults. */
function valueToJson(value: RawValue, budget: MetadataBudget): unknown {
  if (Object.hasOwn(value, 'structValue') && value.structValue) return structToJson(value.structValue, budget);
  if (Object.hasOwn(value, 'listValue') && value.listValue) return (value.listValue.values ?? []).map((item) => valueToJson(item, budget));
  spend(budget, 0);
  if (Object.hasOwn(value, 'stringValue')) {
    spend(budget, value.stringValue?.length ?? 0);
    return value.stringValue;
  }
  if (Object.hasOwn(value, 'numberValue')) return value.numberValue;
  if (Object.hasOwn(value, 'boolValue')) return value.boolValue;
  return null;
}
