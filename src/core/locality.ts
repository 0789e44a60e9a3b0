/** Locality patterns of TrafficPolicy `locality` settings, shared by validation and translation. */
import type { Locality } from './workload.js';

/** Number of named parts of the pattern if it matches the locality, else -1. */
export function matchScore(pattern: string, locality: Locality): number {
  const parts = pattern.split('/').filter((part) => part !== '*');
  const actual = [locality.region, locality.zone, locality.subZone];
  for (let i = 0; i < parts.length; i++) if (parts[i] !== actual[i]) return -1;
  return parts.length;
}

/**
 * A locality pattern: `*`, `region`, `region/*`, `region/zone`, `region/zone/*`,
 * `region/zone/subZone`; parts are label values. Returns the problem, if any.
 */
export function checkLocalityPattern(pattern: string): string | undefined {
  const parts = pattern.split('/');
  const PART = /^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
  if (parts.length > 3) return 'has more than region/zone/subZone';
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '*') {
      if (i !== parts.length - 1) return '"*" may only be the last part';
      continue;
    }
    if (!PART.test(part)) return `part "${part}" is not a valid region, zone or subZone name`;
  }
  return undefined;
}
