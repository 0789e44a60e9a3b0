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
    private readonly keepAlive: boolean,
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
    if (!this.keepAlive) this.inner.unref();
  }
}

function systemClock(keepAlive: boolean): Clock {
  return {
    now: () => Date.now(),
    setTimeout: (callback, ms) => new LongTimer(callback, Date.now() + Math.max(0, ms || 0), keepAlive),
    clearTimeout: (handle) => {
      if (handle instanceof LongTimer) handle.cancel();
    },
  };
}

export const realClock: Clock = systemClock(false);

/**
 * The real clock whose pending timers keep the process alive, for a process whose only work may be
 * waiting (the agent retrying before any of its servers listens).
 */
export const keepAliveClock: Clock = systemClock(true);

/** Calls `callback` every `ms` until the returned function is called. */
export function repeat(clock: Clock, ms: number, callback: () => void): () => void {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const loop = (): void => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      loop();
      callback();
    }, ms);
  };
  loop();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}

/**
 * Runs `task` `ms` after the previous run settled (never two at once), until the returned function
 * is called. A failure goes to `onError`; the loop goes on.
 */
export function repeatAsync(clock: Clock, ms: number, task: () => Promise<void>, onError: (error: unknown) => void): () => void {
  let handle: TimerHandle | undefined;
  let stopped = false;
  const schedule = (): void => {
    handle = clock.setTimeout(() => {
      if (stopped) return;
      task()
        .catch(onError)
        .finally(() => {
          if (!stopped) schedule();
        });
    }, ms);
  };
  schedule();
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}

/** Resolves after `ms` on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
