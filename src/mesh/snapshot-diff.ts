import { serviceKey, type Workload } from '../core/workload.js';
import type { PolicySet } from '../core/policy.js';
import { canonicalJson } from './hash.js';
import { PolicyLookup, type PolicyDifferences } from './model.js';
import type { MeshInput } from './types.js';

/** A map that can list its buckets, shared between versions (the registry's PersistentMap). */
interface Bucketed<V> {
  bucketList(): readonly ReadonlyMap<string, V>[];
}

function isBucketed<V>(map: ReadonlyMap<string, V>): map is ReadonlyMap<string, V> & Bucketed<V> {
  return typeof (map as Partial<Bucketed<V>>).bucketList === 'function';
}

/**
 * What differs between two snapshots: `all` when the mesh settings or the Gateway API documents
 * differ (they reach every proxy).
 */
export type SnapshotChange =
  | 'all'
  | {
      /**
       * Services (`namespace/name`) whose callers may see a change: a workload added, removed or
       * replaced, or a different TrafficPolicy in force.
       */
      readonly services: ReadonlySet<string>;
      /** Workloads added, removed or replaced. */
      readonly workloads: ReadonlySet<string>;
      readonly removedWorkloads: readonly string[];
      /** Services whose own proxies may see a change: their AuthorizationPolicies or UpstreamPolicies differ. */
      readonly sources: ReadonlySet<string>;
    };

const NO_SERVICES: ReadonlySet<string> = new Set();

/**
 * Services with a workload added, removed or replaced between two snapshots, and the workloads
 * removed; with a new policy set, the services whose policies differ by content (model.ts,
 * `PolicyLookup.differences`), or `all` when the mesh settings or Gateway API documents differ.
 * Workloads are immutable, so an unchanged workload is the same object; with the registry's
 * persistent maps only the buckets that differ are compared, so a change costs what it changed,
 * not the size of the mesh.
 */
export function changedSince(before: MeshInput, after: MeshInput): SnapshotChange {
  let policies: PolicyDifferences | undefined;
  if (before.policies !== after.policies) {
    if (!sameMeshWide(before.policies, after.policies)) return 'all';
    policies = new PolicyLookup(after.policies).differences(new PolicyLookup(before.policies));
  }
  const changed = new Set<string>(policies?.destinations);
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
  return { services: changed, workloads, removedWorkloads: removed, sources: policies?.sources ?? NO_SERVICES };
}

/** Whether what every proxy may read (the Mesh settings, Gateways and HTTPRoutes) is the same. */
function sameMeshWide(before: PolicySet, after: PolicySet): boolean {
  const same = (a: unknown, b: unknown): boolean => a === b || canonicalJson(a) === canonicalJson(b);
  return same(before.mesh, after.mesh) && same(before.gateways, after.gateways) && same(before.httpRoutes, after.httpRoutes);
}
