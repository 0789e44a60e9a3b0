/**
 * Work over many items done in one event-loop callback yields after this long. Node sends what
 * was written to sockets, and reads what arrived, only between callbacks: a push to 10,000
 * streams, or the regeneration of 10,000 proxies, done in one callback (≈ 0.3–0.5 s) kept every
 * client waiting for all of it.
 */
const SLICE_MS = 5;
/** Items visited between two looks at the clock. */
const CLOCK_EVERY = 32;

/** Takes items out of `items` and visits them for one slice; true if some are left for the next. */
export function drainSlice<T>(items: Set<T>, visit: (item: T) => void): boolean {
  const deadline = performance.now() + SLICE_MS;
  let visited = 0;
  for (const item of items) {
    items.delete(item);
    visit(item);
    if (++visited % CLOCK_EVERY === 0 && performance.now() >= deadline) break;
  }
  return items.size > 0;
}
