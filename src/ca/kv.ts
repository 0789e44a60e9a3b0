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

export class MemoryCaKv implements CaKv {
  private readonly entries = new Map<string, VersionedValue>();

  async kvGet(key: string): Promise<VersionedValue | undefined> {
    return this.entries.get(key);
  }

  async kvPutIfVersion(key: string, value: string, expectedVersion: number | undefined): Promise<boolean> {
    const current = this.entries.get(key);
    if (current?.version !== expectedVersion) return false;
    this.entries.set(key, { value, version: (current?.version ?? 0) + 1 });
    return true;
  }
}
