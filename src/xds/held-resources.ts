import type { EncodedResource } from './contract.js';

/**
 * What a client holds of one type on a state-of-the-world stream, by name.
 *
 * Most of the time that is exactly a map the config source shares between many proxies — all of it
 * for a wildcard subscriber, or the subscribed names of it — so it is kept as a reference to that
 * map and that name set; a map of its own is made only while the client's copy differs (a
 * subscription just changed, clusters kept for make-before-break). A map and an entry per
 * resource, per type and per stream, had been ≈ 4 KB of every proxy's memory.
 *
 * The shared map and name set are never modified by their owners (a change makes new ones), so
 * referring to them is the same as copying them.
 */
export class HeldResources {
  private own: Map<string, EncodedResource> | undefined;
  private shared: ReadonlyMap<string, EncodedResource> | undefined;
  /** With `shared`: only these names of it; undefined means all of it. */
  private sharedNames: ReadonlySet<string> | undefined;

  get(name: string): EncodedResource | undefined {
    if (this.own) return this.own.get(name);
    if (!this.shared || (this.sharedNames && !this.sharedNames.has(name))) return undefined;
    return this.shared.get(name);
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  get size(): number {
    if (this.own) return this.own.size;
    if (!this.shared) return 0;
    if (!this.sharedNames) return this.shared.size;
    let count = 0;
    for (const name of this.sharedNames) if (this.shared.has(name)) count += 1;
    return count;
  }

  *names(): Generator<string> {
    for (const resource of this.values()) yield resource.name;
  }

  *values(): Generator<EncodedResource> {
    if (this.own) {
      yield* this.own.values();
      return;
    }
    const shared = this.shared;
    if (!shared) return;
    if (!this.sharedNames) {
      yield* shared.values();
      return;
    }
    for (const name of this.sharedNames) {
      const resource = shared.get(name);
      if (resource) yield resource;
    }
  }

  delete(name: string): void {
    if (this.has(name)) this.owned().delete(name);
  }

  /** Holds `resources` (only `names` of them, if given) from now on, by reference. */
  share(resources: ReadonlyMap<string, EncodedResource>, names?: ReadonlySet<string>): void {
    this.own = undefined;
    this.shared = resources;
    this.sharedNames = names;
  }

  /** Holds exactly `list` from now on, in a map of its own. */
  holdOnly(list: readonly EncodedResource[]): void {
    const own = new Map<string, EncodedResource>();
    for (const resource of list) own.set(resource.name, resource);
    this.own = own;
    this.shared = undefined;
    this.sharedNames = undefined;
  }

  private owned(): Map<string, EncodedResource> {
    if (!this.own) {
      const own = new Map<string, EncodedResource>();
      for (const resource of this.values()) own.set(resource.name, resource);
      this.own = own;
      this.shared = undefined;
      this.sharedNames = undefined;
    }
    return this.own;
  }
}
