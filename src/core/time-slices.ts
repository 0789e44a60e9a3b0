/**
 * Work over many items done in one event-loop callback yields after this long. Node sends what
 * was written to sockets, and reads what arrived, only between callbacks: a push to 10,000
 * streams, or the regeneration of 10,000 proxies, done in one callback (≈ 0.3–0.5 s) kept every
 * client waiting for all of it.
 */
const SLICE_MS = 5;
/** Items visited between two looks at the clock. */
const CLOCK_EVERY = 32;

/** Visits items from `iterator` for one slice; true once the iterator is exhausted. */
function visitSlice<T>(iterator: Iterator<T>, visit: (item: T) => void): boolean {
  const deadline = performance.now() + SLICE_MS;
  let visited = 0;
  for (let next = iterator.next(); !next.done; next = iterator.next()) {
    visit(next.value);
    if (++visited % CLOCK_EVERY === 0 && performance.now() >= deadline) return false;
  }
  return true;
}

/** Takes items out of `items` and visits them for one slice; true if some are left for the next. */
export function drainSlice<T>(items: Set<T>, visit: (item: T) => void): boolean {
  visitSlice(items.values(), (item) => {
    items.delete(item);
    visit(item);
  });
  return items.size > 0;
}

/**
 * Visits every item of `items`, yielding to the event loop after each slice; resolves with the
 * time spent visiting (ms), the waits between slices left out. Items added to a live collection
 * while it is being visited may or may not be visited, as with any iterator.
 */
export async function visitInSlices<T>(items: Iterable<T>, visit: (item: T) => void): Promise<number> {
  const iterator = items[Symbol.iterator]();
  let busyMs = 0;
  for (;;) {
    const started = performance.now();
    const done = visitSlice(iterator, visit);
    busyMs += performance.now() - started;
    if (done) return busyMs;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
