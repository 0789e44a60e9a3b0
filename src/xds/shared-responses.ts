import type { EncodedResource } from './contract.js';
import { MessageSlab } from './message-slab.js';
import { memberDigest, setVersion, versionOfMembers, type MemberDigest } from './versions.js';
import { controlPlaneField, deltaResourceField, deltaResponse, Field, sotwResponse } from './wire.js';

/**
 * What every stream that receives the same resources shares, held only as long as those
 * resources (weakly keyed by the resource or the source's map): SotW versions and Delta
 * `Resource` fields. Nothing here is keyed by content strings, so churn leaves nothing behind.
 */
export class SharedResponses {
  private readonly sotwControlPlane: Buffer;
  private readonly deltaControlPlane: Buffer;
  private readonly wholeMapVersions = new WeakMap<ReadonlyMap<string, EncodedResource>, string>();
  private readonly deltaResources = new WeakMap<EncodedResource, Buffer>();
  // The most common response is a single resource (one EDS name per stream).
  private readonly singleVersions = new WeakMap<EncodedResource, string>();
  private readonly members = new WeakMap<EncodedResource, MemberDigest>();
  private readonly slab = new MessageSlab();
  private readonly allocate = (length: number): Buffer => this.slab.take(length);

  constructor(controlPlaneId: string) {
    this.sotwControlPlane = controlPlaneField(Field.DiscoveryResponse.controlPlane, controlPlaneId);
    this.deltaControlPlane = controlPlaneField(Field.DeltaDiscoveryResponse.controlPlane, controlPlaneId);
  }

  /** The SotW version_info of exactly these resources: a hash of names and versions. */
  versionOf(resources: readonly EncodedResource[]): string {
    if (resources.length === 0) return EMPTY_SET_VERSION;
    if (resources.length === 1) {
      const only = resources[0];
      let single = this.singleVersions.get(only);
      if (single === undefined) {
        // The version string is kept, so the member's digest need not be.
        single = versionOfMembers([memberDigest(only)]);
        this.singleVersions.set(only, single);
      }
      return single;
    }
    return versionOfMembers(this.membersOf(resources));
  }

  /**
   * Digests of resources sent in lists of several (EDS, RDS, SDS, and whole CDS/LDS maps) are kept
   * per resource: one cluster is in the maps of every generation that calls its service, so
   * without the cache a fleet's first push digested each of them once per generation (142 ms of a
   * 10,000-proxy restart). Single resources keep their version instead.
   */
  private membersOf(resources: Iterable<EncodedResource>): MemberDigest[] {
    const out: MemberDigest[] = [];
    for (const resource of resources) out.push(this.memberOf(resource));
    return out;
  }

  private memberOf(resource: EncodedResource): MemberDigest {
    let member = this.members.get(resource);
    if (member === undefined) {
      member = memberDigest(resource);
      this.members.set(resource, member);
    }
    return member;
  }

  /** The version of every resource in a map (cached per map instance; sources replace maps on change). */
  versionOfWholeMap(map: ReadonlyMap<string, EncodedResource>): string {
    let version = this.wholeMapVersions.get(map);
    if (version === undefined) {
      version = versionOfMembers(this.membersOf(map.values()));
      this.wholeMapVersions.set(map, version);
    }
    return version;
  }

  /** A whole DiscoveryResponse, written once per stream straight from the resources' bytes. */
  sotwResponse(nonce: string, typeUrl: string, versionInfo: string, resources: readonly EncodedResource[]): Buffer {
    return sotwResponse(nonce, versionInfo, typeUrl, resources, this.sotwControlPlane, this.allocate);
  }

  /** A whole DeltaDiscoveryResponse from cached `Resource` fields and the removed names. */
  deltaResponse(nonce: string, typeUrl: string, resourceFields: readonly Uint8Array[], removed: readonly string[]): Buffer {
    return deltaResponse(nonce, typeUrl, resourceFields, removed, this.deltaControlPlane, this.allocate);
  }

  /** `DeltaDiscoveryResponse.resources` field bytes for one resource. */
  deltaResource(resource: EncodedResource): Buffer {
    let field = this.deltaResources.get(resource);
    if (!field) {
      field = deltaResourceField(resource.name, resource.version, resource.any);
      this.deltaResources.set(resource, field);
    }
    return field;
  }
}

const EMPTY_SET_VERSION = setVersion([]);
