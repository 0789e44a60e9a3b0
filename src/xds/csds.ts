import type protobuf from 'protobufjs';
import type { EncodedResource, NodeInfo } from './contract.js';
import type { ProxyStatus } from './status.js';

/** One connected stream as CSDS sees it. */
export interface CsdsSubject {
  nodeInfo(): NodeInfo | undefined;
  status(): ProxyStatus;
  sentResource(typeUrl: string, name: string): EncodedResource | undefined;
}

interface RawStringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: { regex?: string };
  ignore_case?: boolean;
}
interface RawClientStatusRequest {
  node_matchers?: { node_id?: RawStringMatcher }[];
  exclude_resource_contents?: boolean;
}

// envoy.service.status.v3.ConfigStatus and envoy.admin.v3.ClientResourceStatus
const CONFIG_STATUS = { SENT: 'STALE', ACKED: 'SYNCED', NACKED: 'ERROR' } as const;
const CLIENT_STATUS = { SENT: 'REQUESTED', ACKED: 'ACKED', NACKED: 'NACKED' } as const;

/**
 * Client Status Discovery Service: for each connected proxy, per resource, what was sent and
 * whether it was ACKed or NACKed (with the error).
 */
export class ClientStatusReporter {
  private readonly requestType: protobuf.Type;
  private readonly responseType: protobuf.Type;
  private readonly anyType: protobuf.Type;

  constructor(root: protobuf.Root) {
    this.requestType = root.lookupType('envoy.service.status.v3.ClientStatusRequest');
    this.responseType = root.lookupType('envoy.service.status.v3.ClientStatusResponse');
    this.anyType = root.lookupType('google.protobuf.Any');
  }

  /** Answers ClientStatusRequest bytes with ClientStatusResponse bytes. Throws on a malformed request. */
  respond(requestBytes: Uint8Array, subjects: Iterable<CsdsSubject>): Buffer {
    const request = this.requestType.decode(requestBytes) as unknown as RawClientStatusRequest;
    const matchers = (request.node_matchers ?? []).map((matcher) => matcher.node_id).filter((m) => m !== undefined && m !== null);
    const includeContents = !request.exclude_resource_contents;
    const configs: Record<string, unknown>[] = [];
    for (const subject of subjects) {
      const node = subject.nodeInfo();
      if (!node) continue;
      if (matchers.length > 0 && !matchers.some((matcher) => matchString(matcher, node.id))) continue;
      configs.push(this.clientConfig(subject, node, includeContents));
    }
    const message = this.responseType.fromObject({ config: configs });
    return Buffer.from(this.responseType.encode(message).finish());
  }

  private clientConfig(subject: CsdsSubject, node: NodeInfo, includeContents: boolean): Record<string, unknown> {
    const status = subject.status();
    const generic: Record<string, unknown>[] = [];
    for (const type of status.types) {
      const seen = new Set<string>();
      for (const resource of type.resources) {
        seen.add(resource.name);
        const entry: Record<string, unknown> = {
          type_url: type.typeUrl,
          name: resource.name,
          version_info: resource.version,
          config_status: CONFIG_STATUS[resource.status],
          client_status: CLIENT_STATUS[resource.status],
        };
        const sent = includeContents ? subject.sentResource(type.typeUrl, resource.name) : undefined;
        if (sent) entry.xds_config = this.anyType.toObject(this.anyType.decode(sent.any));
        if (resource.status === 'NACKED') {
          entry.error_state = { details: resource.errorDetail ?? type.lastNack?.errorDetail ?? '', version_info: resource.version };
        }
        generic.push(entry);
      }
      if (type.subscribed !== '*') {
        for (const name of type.subscribed) {
          if (seen.has(name)) continue;
          generic.push({ type_url: type.typeUrl, name, config_status: 'NOT_SENT', client_status: 'REQUESTED' });
        }
      }
    }
    return {
      node: {
        id: node.id,
        cluster: node.cluster,
        user_agent_name: node.userAgentName,
        ...(node.userAgentVersion ? { user_agent_version: node.userAgentVersion } : {}),
        locality: { region: node.locality.region ?? '', zone: node.locality.zone ?? '', sub_zone: node.locality.subZone ?? '' },
        client_features: [...node.clientFeatures],
      },
      generic_xds_configs: generic,
    };
  }
}

function matchString(matcher: RawStringMatcher, value: string): boolean {
  const fold = matcher.ignore_case ? (text: string) => text.toLowerCase() : (text: string) => text;
  const subject = fold(value);
  if (matcher.exact) return subject === fold(matcher.exact);
  if (matcher.prefix) return subject.startsWith(fold(matcher.prefix));
  if (matcher.suffix) return subject.endsWith(fold(matcher.suffix));
  if (matcher.contains) return subject.includes(fold(matcher.contains));
  if (matcher.safe_regex?.regex) {
    try {
      return new RegExp(`^(?:${matcher.safe_regex.regex})$`).test(value);
    } catch {
      return false;
    }
  }
  return true;
}
