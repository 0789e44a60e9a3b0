/**
 * Time as one injectable port: reading the clock and waiting on it. Everything in `src/` that
 * reads the time or waits goes through a `Clock`, so tests drive it with a fake one and the
 * 32-bit timer limit is handled in one place.
 */

/** Opaque to callers; the real clock returns its own handle, fakes whatever they like. */
export type TimerHandle = { readonly __timer?: never } | object;

export interface Clock {
  now(): number;
  /** Calls `callback` once after `ms` (negative means now). Never keeps the process alive. */
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/**
 * Node fires a timer whose delay exceeds 2^31-1 ms (~24.8 days) after 1 ms instead, with only a
 * warning: a certificate that lives longer than that would be rotated in a tight loop.
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

class LongTimer {
  private inner: NodeJS.Timeout | undefined;

  constructor(
    private readonly callback: () => void,
    private readonly dueAt: number,
  ) {
    this.arm();
  }

  cancel(): void {
    if (this.inner) clearTimeout(this.inner);
    this.inner = undefined;
  }

  private arm(): void {
    const remaining = Math.max(0, this.dueAt - Date.now());
    this.inner = setTimeout(() => {
      if (Date.now() < this.dueAt) this.arm();
      else {
        this.inner = undefined;
        this.callback();
      }
    }, Math.min(remaining, MAX_TIMER_DELAY_MS));
    this.inner.unref();
  }
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => new LongTimer(callback, Date.now() + Math.max(0, ms || 0)),
  clearTimeout: (handle) => {
    if (handle instanceof LongTimer) handle.cancel();
  },
};
