import { serviceKey, type Workload } from '../core/workload.js';
import type { MeshInput } from './types.js';

/** A map that can list its buckets, shared between versions (the registry's PersistentMap). */
interface Bucketed<V> {
  bucketList(): readonly ReadonlyMap<string, V>[];
}

function isBucketed<V>(map: ReadonlyMap<string, V>): map is ReadonlyMap<string, V> & Bucketed<V> {
  return typeof (map as Partial<Bucketed<V>>).bucketList === 'function';
}

/** What differs between two snapshots: `all` when the policy set differs (policies reach everything). */
export type SnapshotChange =
  | 'all'
  | {
      /** Services (`namespace/name`) with a workload added, removed or replaced. */
      readonly services: ReadonlySet<string>;
      /** Workloads added, removed or replaced. */
      readonly workloads: ReadonlySet<string>;
      readonly removedWorkloads: readonly string[];
    };

/**
 * Services with a workload added, removed or replaced between two snapshots, and the workloads
 * removed, or `all` when the policy set differs. Workloads are immutable, so an
 * unchanged workload is the same object; with the registry's persistent maps only the buckets
 * that differ are compared, so a change costs what it changed, not the size of the mesh.
 */
export function changedSince(before: MeshInput, after: MeshInput): SnapshotChange {
  if (before.policies !== after.policies) return 'all';
  const changed = new Set<string>();
  const workloads = new Set<string>();
  const removed: string[] = [];
  const note = (workload: Workload | undefined): void => {
    if (!workload) return;
    changed.add(serviceKey(workload.namespace, workload.service));
    workloads.add(workload.id);
  };
  const compare = (old: ReadonlyMap<string, Workload>, next: ReadonlyMap<string, Workload>): void => {
    if (old === next) return;
    for (const [id, workload] of next) if (old.get(id) !== workload) note(workload);
    for (const [id, workload] of old) {
      if (next.get(id) === workload) continue;
      note(workload);
      if (!next.has(id)) removed.push(id);
    }
  };
  const a = before.workloads;
  const b = after.workloads;
  if (isBucketed(a) && isBucketed(b) && a.bucketList().length === b.bucketList().length) {
    const left = a.bucketList();
    const right = b.bucketList();
    for (let i = 0; i < left.length; i++) compare(left[i], right[i]);
  } else {
    compare(a, b);
  }
  return { services: changed, workloads, removedWorkloads: removed };
}
