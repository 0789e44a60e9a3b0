import { status as GrpcStatus, type Metadata } from '@grpc/grpc-js';
import { StreamRefusedError, type ConfigSource, type EncodedResource } from './contract.js';
import type { RequestDecoder } from './requests.js';
import type { SharedResponses } from './shared-responses.js';
import { isWildcardType } from './type-order.js';

export class FetchError extends Error {
  constructor(
    readonly code: GrpcStatus,
    message: string,
  ) {
    super(message);
    this.name = 'FetchError';
  }
}

export interface FetchContext {
  readonly source: ConfigSource;
  readonly decoder: RequestDecoder;
  readonly responses: SharedResponses;
  readonly peer: string;
  readonly metadata: Metadata;
  readonly nonce: string;
}

/**
 * The unary Fetch* methods (REST-style xDS): one DiscoveryRequest, the current resources in one
 * DiscoveryResponse. The proxy view is opened for the call and closed right after.
 */
export async function fetchResources(
  bytes: Buffer,
  typeUrl: string,
  context: FetchContext,
): Promise<Buffer> {
  let request;
  try {
    request = context.decoder.decodeSotw(bytes);
  } catch (error) {
    throw new FetchError(GrpcStatus.INVALID_ARGUMENT, error instanceof Error ? error.message : String(error));
  }
  if (request.typeUrl && request.typeUrl !== typeUrl) {
    throw new FetchError(GrpcStatus.INVALID_ARGUMENT, `type_url: ${request.typeUrl} is not served by this method (expected ${typeUrl})`);
  }
  if (!request.node?.id) throw new FetchError(GrpcStatus.INVALID_ARGUMENT, 'node.id: required');
  let view;
  try {
    view = await context.source.open({ node: request.node, peer: context.peer, metadata: context.metadata });
  } catch (error) {
    if (error instanceof StreamRefusedError) {
      throw new FetchError(error.code === 'UNAUTHENTICATED' ? GrpcStatus.UNAUTHENTICATED : GrpcStatus.PERMISSION_DENIED, error.message);
    }
    throw new FetchError(GrpcStatus.UNAVAILABLE, 'configuration source unavailable');
  }
  try {
    const resources = view.resources(typeUrl);
    if (!resources) throw new FetchError(GrpcStatus.UNAVAILABLE, `no ${typeUrl} resources for node "${request.node.id}" yet`);
    const names = request.resourceNames.filter((name) => name !== '*');
    const wildcard = isWildcardType(typeUrl) && (names.length === 0 || request.resourceNames.includes('*'));
    const list: EncodedResource[] = [];
    if (wildcard) list.push(...resources.values());
    else {
      for (const name of new Set(names)) {
        const resource = resources.get(name);
        if (resource) list.push(resource);
      }
    }
    for (const resource of list) {
      const reason = view.authorize(typeUrl, resource.name);
      if (reason !== undefined) {
        throw new FetchError(GrpcStatus.PERMISSION_DENIED, `not authorized for ${typeUrl} "${resource.name}": ${reason}`);
      }
    }
    const versionInfo = context.responses.versionOf(list);
    return context.responses.sotwResponse(context.nonce, typeUrl, versionInfo, list);
  } finally {
    view.close();
  }
}
