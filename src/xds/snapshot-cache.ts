import type { ConfigSource, EncodedResource, ProxyView, StreamContext } from './contract.js';

export interface SnapshotCacheOptions {
  /** Decides per resource whether a stream may read it; a returned string is the reason it may not. */
  readonly authorize?: (context: StreamContext, typeUrl: string, name: string) => string | undefined;
}

type ChangeListener = (typeUrls: ReadonlySet<string>) => void;

/**
 * The simplest ConfigSource: per node id, per type, a set of resources set by the caller.
 * A type that was never set for a node is "not ready" (`resources()` returns undefined), so the
 * transport never sends an accidental empty LDS/CDS. Each type's map is replaced, never mutated,
 * so streams that share it can share response bytes too.
 */
export class SnapshotCache implements ConfigSource {
  private readonly nodes = new Map<string, Map<string, ReadonlyMap<string, EncodedResource>>>();
  private readonly listeners = new Map<string, Set<ChangeListener>>();

  constructor(private readonly options: SnapshotCacheOptions = {}) {}

  /** Replaces the node's resources of one type, marks the type ready and notifies the node's streams. */
  setResources(nodeId: string, typeUrl: string, resources: readonly EncodedResource[]): void {
    const byName = new Map<string, EncodedResource>();
    for (const resource of resources) {
      if (resource.typeUrl !== typeUrl) {
        throw new Error(`setResources(${nodeId}, ${typeUrl}): resource "${resource.name}" has type ${resource.typeUrl}`);
      }
      if (byName.has(resource.name)) {
        throw new Error(`setResources(${nodeId}, ${typeUrl}): duplicate resource name "${resource.name}"`);
      }
      byName.set(resource.name, resource);
    }
    let types = this.nodes.get(nodeId);
    if (!types) {
      types = new Map();
      this.nodes.set(nodeId, types);
    }
    types.set(typeUrl, byName);
    this.notify(nodeId, new Set([typeUrl]));
  }

  /** Forgets every type of a node; its streams see them as not ready again. */
  clearNode(nodeId: string): void {
    const types = this.nodes.get(nodeId);
    if (!types) return;
    this.nodes.delete(nodeId);
    this.notify(nodeId, new Set(types.keys()));
  }

  open(context: StreamContext): ProxyView {
    const nodeId = context.node.id;
    const listeners = new Set<ChangeListener>();
    const authorize = this.options.authorize;
    return {
      resources: (typeUrl) => this.nodes.get(nodeId)?.get(typeUrl),
      authorize: (typeUrl, name) => (authorize ? authorize(context, typeUrl, name) : undefined),
      interest: () => undefined,
      acked: () => undefined,
      nacked: () => undefined,
      watch: (onChange) => {
        listeners.add(onChange);
        this.addListener(nodeId, onChange);
        return () => {
          listeners.delete(onChange);
          this.removeListener(nodeId, onChange);
        };
      },
      close: () => {
        for (const listener of listeners) this.removeListener(nodeId, listener);
        listeners.clear();
      },
    };
  }

  private addListener(nodeId: string, listener: ChangeListener): void {
    let set = this.listeners.get(nodeId);
    if (!set) {
      set = new Set();
      this.listeners.set(nodeId, set);
    }
    set.add(listener);
  }

  private removeListener(nodeId: string, listener: ChangeListener): void {
    const set = this.listeners.get(nodeId);
    if (!set) return;
    set.delete(listener);
    if (set.size === 0) this.listeners.delete(nodeId);
  }

  private notify(nodeId: string, typeUrls: ReadonlySet<string>): void {
    const set = this.listeners.get(nodeId);
    if (!set) return;
    for (const listener of [...set]) listener(typeUrls);
  }
}
