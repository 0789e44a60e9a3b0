/**
 * An immutable string-keyed map that shares structure between versions, so publishing a new
 * snapshot after a few changes costs O(changed buckets), not O(size). Keys are spread over a
 * fixed number of buckets by hash; a builder copies a bucket the first time it changes after a
 * snapshot was taken (copy-on-write). Iteration order is by bucket, then by insertion.
 */
const BUCKETS = 256;

function bucketOf(key: string): number {
  let hash = 2166136261;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return (hash >>> 0) % BUCKETS;
}

export class PersistentMap<V> implements ReadonlyMap<string, V> {
  /** Use MapBuilder to make one. */
  constructor(
    private readonly buckets: readonly ReadonlyMap<string, V>[],
    readonly size: number,
  ) {
    Object.freeze(this);
  }

  get(key: string): V | undefined {
    return this.buckets[bucketOf(key)]?.get(key);
  }

  has(key: string): boolean {
    return this.buckets[bucketOf(key)]?.has(key) ?? false;
  }

  *entries(): MapIterator<[string, V]> {
    for (const bucket of this.buckets) yield* bucket.entries();
  }

  *keys(): MapIterator<string> {
    for (const bucket of this.buckets) yield* bucket.keys();
  }

  *values(): MapIterator<V> {
    for (const bucket of this.buckets) yield* bucket.values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(callback: (value: V, key: string, map: ReadonlyMap<string, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.entries()) callback.call(thisArg, value, key, this);
  }

  /** The bucket array, for a builder continuing from this version. */
  bucketList(): readonly ReadonlyMap<string, V>[] {
    return this.buckets;
  }
}

/** The mutable side: edit freely, then `snapshot()` for an immutable PersistentMap. */
export class MapBuilder<V> {
  private buckets: Map<string, V>[];
  /** Buckets this builder may mutate in place (not shared with any snapshot). */
  private owned: boolean[];
  private count = 0;

  constructor() {
    this.buckets = Array.from({ length: BUCKETS }, () => new Map<string, V>());
    this.owned = new Array<boolean>(BUCKETS).fill(true);
  }

  get size(): number {
    return this.count;
  }

  get(key: string): V | undefined {
    return this.buckets[bucketOf(key)]?.get(key);
  }

  set(key: string, value: V): void {
    const bucket = this.writable(bucketOf(key));
    if (!bucket.has(key)) this.count += 1;
    bucket.set(key, value);
  }

  delete(key: string): boolean {
    const index = bucketOf(key);
    if (!this.buckets[index]?.has(key)) return false;
    this.writable(index).delete(key);
    this.count -= 1;
    return true;
  }

  clear(): void {
    this.buckets = Array.from({ length: BUCKETS }, () => new Map<string, V>());
    this.owned = new Array<boolean>(BUCKETS).fill(true);
    this.count = 0;
  }

  snapshot(): PersistentMap<V> {
    this.owned.fill(false);
    return new PersistentMap<V>([...this.buckets], this.count);
  }

  private writable(index: number): Map<string, V> {
    let bucket = this.buckets[index] as Map<string, V>;
    if (!this.owned[index]) {
      bucket = new Map(bucket);
      this.buckets[index] = bucket;
      this.owned[index] = true;
    }
    return bucket;
  }
}
