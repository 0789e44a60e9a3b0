import type protobuf from 'protobufjs';
import type { EncodedResource, NodeInfo } from './contract.js';
import { compileNodeMatcher, MAX_NODE_MATCHERS, type NodeIdPredicate, type RawStringMatcher } from './node-matcher.js';
import { ResourceRedactor } from './redaction.js';
import { BadRequestError } from './requests.js';
import type { ProxyStatus } from './status.js';

/** One connected stream as CSDS sees it. */
export interface CsdsSubject {
  nodeInfo(): NodeInfo | undefined;
  status(): ProxyStatus;
  sentResource(typeUrl: string, name: string): EncodedResource | undefined;
}

interface RawClientStatusRequest {
  node_matchers?: { node_id?: RawStringMatcher | null }[];
  exclude_resource_contents?: boolean;
}

// envoy.service.status.v3.ConfigStatus and envoy.admin.v3.ClientResourceStatus
const CONFIG_STATUS = { SENT: 'STALE', ACKED: 'SYNCED', NACKED: 'ERROR' } as const;
const CLIENT_STATUS = { SENT: 'REQUESTED', ACKED: 'ACKED', NACKED: 'NACKED' } as const;

/** PEM armour of any private key; a CSDS answer that still contains it is sent without contents. */
const PRIVATE_KEY_PEM = Buffer.from('PRIVATE KEY-----');

/**
 * Client Status Discovery Service: for each connected proxy, per resource, what was sent and
 * whether it was ACKed or NACKed (with the error). Contents never include key material: see
 * ResourceRedactor.
 */
export class ClientStatusReporter {
  private readonly requestType: protobuf.Type;
  private readonly responseType: protobuf.Type;
  private readonly anyType: protobuf.Type;
  private readonly redactor: ResourceRedactor;

  constructor(root: protobuf.Root) {
    this.requestType = root.lookupType('envoy.service.status.v3.ClientStatusRequest');
    this.responseType = root.lookupType('envoy.service.status.v3.ClientStatusResponse');
    this.anyType = root.lookupType('google.protobuf.Any');
    this.redactor = new ResourceRedactor(root);
  }

  /** Answers ClientStatusRequest bytes with ClientStatusResponse bytes. Throws BadRequestError on a bad request. */
  respond(requestBytes: Uint8Array, subjects: Iterable<CsdsSubject>): Buffer {
    const { matchers, includeContents } = this.parse(requestBytes);
    const selected: [CsdsSubject, NodeInfo][] = [];
    for (const subject of subjects) {
      const node = subject.nodeInfo();
      if (!node) continue;
      if (matchers.length > 0 && !matchers.some((matches) => matches(node.id))) continue;
      selected.push([subject, node]);
    }
    const answer = this.encode(selected, includeContents);
    if (includeContents && answer.includes(PRIVATE_KEY_PEM)) return this.encode(selected, false);
    return answer;
  }

  private parse(requestBytes: Uint8Array): { matchers: NodeIdPredicate[]; includeContents: boolean } {
    let request: RawClientStatusRequest;
    try {
      request = this.requestType.decode(requestBytes) as unknown as RawClientStatusRequest;
    } catch (error) {
      throw new BadRequestError(`malformed ClientStatusRequest: ${error instanceof Error ? error.message : String(error)}`);
    }
    const raw = request.node_matchers ?? [];
    if (raw.length > MAX_NODE_MATCHERS) {
      throw new BadRequestError(`node_matchers: ${raw.length} matchers exceed the limit of ${MAX_NODE_MATCHERS}`);
    }
    const matchers: NodeIdPredicate[] = [];
    raw.forEach((matcher, index) => {
      if (matcher.node_id) matchers.push(compileNodeMatcher(matcher.node_id, `node_matchers[${index}].node_id`));
    });
    return { matchers, includeContents: !request.exclude_resource_contents };
  }

  private encode(selected: readonly [CsdsSubject, NodeInfo][], includeContents: boolean): Buffer {
    const configs = selected.map(([subject, node]) => this.clientConfig(subject, node, includeContents));
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
        const shown = sent ? this.redactor.redactedAny(sent) : undefined;
        if (shown) entry.xds_config = this.anyType.toObject(this.anyType.decode(shown));
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
