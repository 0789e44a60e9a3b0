import type { MeshTranslator, Flavour } from '../mesh/index.js';
import { flavourOf } from '../mesh/index.js';
import type { EncodedResource } from '../xds/contract.js';
import type { ResourceEncoder } from '../xds/index.js';
import type { Logger } from '../observability/logger.js';
import type { GeneratedConfig, MeshState, ProxyGenerator } from './mesh-source.js';
import type { MeshSnapshot } from './mesh-state.js';

/**
 * Translates a proxy's config and encodes it. The translator returns the same object for an
 * unchanged piece, so encoding is cached by object identity: a piece shared by many proxies, or
 * unchanged across generations, is encoded once.
 */
export class EncodingProxyGenerator implements ProxyGenerator {
  private readonly encoded = new WeakMap<object, EncodedResource>();
  /** Encoded maps by the translation's map: replicas sharing a generation, and types a rebuild left unchanged, share one. */
  private readonly encodedMaps = new WeakMap<ReadonlyMap<string, Readonly<Record<string, unknown>>>, ReadonlyMap<string, EncodedResource>>();
  /** The whole encoded config by the translation's map of types: the proxies of one generation share one. */
  private readonly encodedConfigs = new WeakMap<object, ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>>();
  private readonly log: Logger;

  constructor(
    private readonly translator: MeshTranslator,
    private readonly encoder: ResourceEncoder,
    private readonly snapshot: () => MeshSnapshot,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'generator' });
  }

  flavourOf(userAgentName: string): Flavour {
    return flavourOf(userAgentName);
  }

  affectedSince(before: MeshState, after: MeshState): ReadonlySet<string> | 'all' {
    return this.translator.affectedWorkloads(before, after);
  }

  generate(workloadId: string, flavour: Flavour, currentKey: string | undefined): GeneratedConfig | undefined {
    const generated = this.translator.translateIfChanged(this.snapshot(), workloadId, flavour, currentKey);
    if (generated === undefined) return undefined;
    const { key, translation } = generated;
    for (const note of translation.notes) this.log.debug({ workloadId, code: note.code }, note.message);
    const cached = this.encodedConfigs.get(translation.resources);
    if (cached) return { key, config: cached };
    const out = new Map<string, ReadonlyMap<string, EncodedResource>>();
    for (const [typeUrl, resources] of translation.resources) {
      let encoded = this.encodedMaps.get(resources);
      if (!encoded) {
        const map = new Map<string, EncodedResource>();
        for (const [name, resource] of resources) map.set(name, this.encode(typeUrl, name, resource));
        encoded = map;
        this.encodedMaps.set(resources, encoded);
      }
      out.set(typeUrl, encoded);
    }
    this.encodedConfigs.set(translation.resources, out);
    return { key, config: out };
  }

  private encode(typeUrl: string, name: string, resource: Readonly<Record<string, unknown>>): EncodedResource {
    const cached = this.encoded.get(resource);
    if (cached && cached.typeUrl === typeUrl && cached.name === name) return cached;
    const encoded = this.encoder.encode(typeUrl, name, resource);
    this.encoded.set(resource, encoded);
    return encoded;
  }
}
