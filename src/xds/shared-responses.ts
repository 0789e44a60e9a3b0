import type { EncodedResource } from './contract.js';
import { setVersion } from './versions.js';
import { controlPlaneField, deltaResourceField, Field, sotwResponseBody } from './wire.js';

/** A small insertion-ordered cache bounded by entry count and total bytes (oldest out first). */
export class BoundedCache<V> {
  private readonly entries = new Map<string, { value: V; size: number }>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxBytes: number,
    private readonly sizeOf: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    return this.entries.get(key)?.value;
  }

  set(key: string, value: V): void {
    const size = this.sizeOf(value) + key.length;
    const old = this.entries.get(key);
    if (old) {
      this.bytes -= old.size;
      this.entries.delete(key);
    }
    this.entries.set(key, { value, size });
    this.bytes += size;
    while (this.entries.size > this.maxEntries || (this.bytes > this.maxBytes && this.entries.size > 1)) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.bytes -= this.entries.get(oldest.value)?.size ?? 0;
      this.entries.delete(oldest.value);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * Response bytes shared by every stream that receives the same resources: a SotW body is
 * assembled once per (type, version, resource list) and each stream only prefixes its nonce;
 * a Delta `Resource` is wrapped once per encoded resource.
 */
export class SharedResponses {
  readonly sotwControlPlane: Buffer;
  readonly deltaControlPlane: Buffer;
  private readonly wholeMapVersions = new WeakMap<ReadonlyMap<string, EncodedResource>, string>();
  private readonly versions = new BoundedCache<string>(20_000, 16 * 1024 * 1024, (value) => value.length);
  private readonly bodies = new BoundedCache<Buffer>(4_096, 256 * 1024 * 1024, (value) => value.length);
  private readonly deltaResources = new WeakMap<EncodedResource, Buffer>();
  // Fast paths for the most common response, a single resource (one EDS name per stream).
  private readonly singleVersions = new WeakMap<EncodedResource, string>();
  private readonly singleBodies = new WeakMap<EncodedResource, Buffer>();

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
        single = setVersion(resources);
        this.singleVersions.set(only, single);
      }
      return single;
    }
    const key = setKey(resources);
    let version = this.versions.get(key);
    if (version === undefined) {
      version = setVersion(resources);
      this.versions.set(key, version);
    }
    return version;
  }

  /** The version of every resource in a map (cached per map instance; sources replace maps on change). */
  versionOfWholeMap(map: ReadonlyMap<string, EncodedResource>): string {
    let version = this.wholeMapVersions.get(map);
    if (version === undefined) {
      version = setVersion([...map.values()]);
      this.wholeMapVersions.set(map, version);
    }
    return version;
  }

  /** DiscoveryResponse bytes without the nonce; `subset` when `resources` is not everything `versionInfo` covers. */
  sotwBody(typeUrl: string, versionInfo: string, resources: readonly EncodedResource[], subset: boolean): Buffer {
    if (!subset && resources.length === 1 && resources[0].typeUrl === typeUrl) {
      const only = resources[0];
      let single = this.singleBodies.get(only);
      if (!single) {
        single = sotwResponseBody(versionInfo, typeUrl, [only.any], this.sotwControlPlane);
        this.singleBodies.set(only, single);
      }
      return single;
    }
    const key = subset ? `${typeUrl}\n${versionInfo}\n${resources.map((r) => r.name).join('\0')}` : `${typeUrl}\n${versionInfo}`;
    let body = this.bodies.get(key);
    if (!body) {
      body = sotwResponseBody(
        versionInfo,
        typeUrl,
        resources.map((r) => r.any),
        this.sotwControlPlane,
      );
      this.bodies.set(key, body);
    }
    return body;
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

function setKey(resources: readonly EncodedResource[]): string {
  const sorted = [...resources].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let key = '';
  for (const resource of sorted) key += `${resource.name}\0${resource.version}\n`;
  return key;
}
