import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Fuzz case counts. `ACCORD_FUZZ_CASES` is the total for one run across every fuzz suite
 * (default 100,000; CI may lower it); each suite takes its documented share and prints its count.
 */
export const DEFAULT_FUZZ_TOTAL = 100_000;

export function fuzzCases(share: number): number {
  const raw = process.env.ACCORD_FUZZ_CASES;
  const total = raw === undefined || raw === '' ? DEFAULT_FUZZ_TOTAL : Number(raw);
  if (!Number.isFinite(total) || total < 0) throw new Error(`ACCORD_FUZZ_CASES: "${raw}" is not a non-negative number`);
  return Math.max(1, Math.round(total * share));
}

/** A full garbage collection, for heap measurements (V8's gc exposed at run time). */
export function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
}

/** Heap in use after a full collection, MB. */
export function heapMb(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed / 1024 / 1024;
}
