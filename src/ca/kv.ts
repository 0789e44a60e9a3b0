/**
 * The small versioned key-value store the CA needs for shared material and rotation state.
 * The registry's Redis store implements exactly this; `MemoryCaKv` is the in-process version.
 */
export interface VersionedValue {
  readonly value: string;
  readonly version: number;
}

export interface CaKv {
  kvGet(key: string): Promise<VersionedValue | undefined>;
  /**
   * Writes `value` only if the stored version equals `expectedVersion` (`undefined`: the key must
   * not exist yet). Returns whether it wrote.
   */
  kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean>;
}

/** The in-process store; `entries` and `afterWrite` let a durable store (the data dir's) build on it. */
export class MemoryCaKv implements CaKv {
  constructor(
    protected readonly entries = new Map<string, VersionedValue>(),
    /** Called after each successful write, before it is reported (e.g. to persist the entries). */
    private readonly afterWrite: () => Promise<void> = async () => undefined,
  ) {}

  async kvGet(key: string): Promise<VersionedValue | undefined> {
    return this.entries.get(key);
  }

  async kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean> {
    const current = this.entries.get(key);
    if (current?.version !== expectedVersion) return false;
    this.entries.set(key, { value, version: (current?.version ?? 0) + 1 });
    await this.afterWrite();
    return true;
  }
}
