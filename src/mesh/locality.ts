import type { LocalityLbSetting, TrafficPolicySpec } from '../core/policy.js';
import { matchScore } from '../core/locality.js';
import type { Locality } from '../core/workload.js';

/**
 * How one caller spreads its requests over a destination's localities. Callers with equal plans
 * receive equal clusters and CLAs, so the plan (not the caller's locality) is what pieces are
 * keyed by.
 *
 * - `none`: one priority for every endpoint (the caller has no locality, or the policy turned
 *   locality awareness off).
 * - `failover`: priorities relative to the caller: same zone, same region, then the regions of
 *   the explicit failover chain in order, then everything else; gaps are closed.
 * - `distribute`: one priority; each endpoint locality weighted by the most specific `to` pattern
 *   that matches it (shared evenly by the localities it matches); unmatched localities get nothing.
 */
export type LocalityPlan =
  | { readonly kind: 'none' }
  | { readonly kind: 'failover'; readonly caller: Locality; readonly failoverRegions: readonly string[] }
  | {
      readonly kind: 'distribute';
      readonly caller: Locality;
      readonly to: readonly { readonly pattern: string; readonly weight: number }[];
    };

const NO_PLAN: LocalityPlan = { kind: 'none' };

export function localityPlan(policy: TrafficPolicySpec | undefined, caller: Locality): LocalityPlan {
  const setting: LocalityLbSetting = policy?.locality ?? { enabled: true };
  if (!setting.enabled) return NO_PLAN;
  if (caller.region === undefined && caller.zone === undefined) return NO_PLAN;
  const rule = mostSpecific(setting.distribute ?? [], (d) => d.from, caller);
  if (rule) {
    return { kind: 'distribute', caller: { ...caller }, to: Object.entries(rule.to).map(([pattern, weight]) => ({ pattern, weight })) };
  }
  return { kind: 'failover', caller: { ...caller }, failoverRegions: failoverChain(setting, caller.region) };
}

/** Regions to try after the caller's own, following `from → to` links (each region once). */
function failoverChain(setting: LocalityLbSetting, region: string | undefined): string[] {
  const chain: string[] = [];
  const next = new Map((setting.failover ?? []).map((f) => [f.from, f.to]));
  let current = region;
  while (current !== undefined) {
    const target = next.get(current);
    if (target === undefined || target === region || chain.includes(target)) break;
    chain.push(target);
    current = target;
  }
  return chain;
}

/**
 * Each endpoint locality's priority (before closing gaps) and weight multiplier under a plan;
 * `undefined`: the locality gets no traffic.
 */
export function placeLocality(
  plan: LocalityPlan,
  locality: Locality,
  allLocalities: readonly Locality[],
): { readonly priority: number; readonly share: number } | undefined {
  switch (plan.kind) {
    case 'none':
      return { priority: 0, share: 1 };
    case 'failover': {
      const { caller, failoverRegions } = plan;
      if (locality.region === caller.region && locality.zone === caller.zone) return { priority: 0, share: 1 };
      if (locality.region === caller.region) return { priority: 1, share: 1 };
      const index = locality.region === undefined ? -1 : failoverRegions.indexOf(locality.region);
      return { priority: index >= 0 ? 2 + index : 2 + failoverRegions.length, share: 1 };
    }
    case 'distribute': {
      const target = mostSpecific(plan.to, (t) => t.pattern, locality);
      if (!target || target.weight === 0) return undefined;
      const sharing = allLocalities.filter((other) => mostSpecific(plan.to, (t) => t.pattern, other) === target).length;
      return { priority: 0, share: target.weight / Math.max(1, sharing) };
    }
  }
}

/**
 * Whether the locality is the caller's own. Envoy lists the caller's own locality first within
 * its priority, and so does the CLA, so that config dumps read the same.
 */
export function isCallerLocality(plan: LocalityPlan, locality: Locality): boolean {
  if (plan.kind === 'none') return false;
  const { caller } = plan;
  return caller.region === locality.region && caller.zone === locality.zone && caller.subZone === locality.subZone;
}

/** The item whose pattern matches the locality with the most named parts; ties: the first. */
function mostSpecific<T>(items: readonly T[], patternOf: (item: T) => string, locality: Locality): T | undefined {
  let best: T | undefined;
  let bestScore = -1;
  for (const item of items) {
    const score = matchScore(patternOf(item), locality);
    if (score > bestScore) [best, bestScore] = [item, score];
  }
  return best;
}
