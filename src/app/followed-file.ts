import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import { realClock, repeat, type Clock } from '../core/clock.js';

/** Polling backs up the watch (a mounted Secret changes by a symlink swap some watchers miss). */
const POLL_MS = 2_000;

/**
 * A credentials file re-read whenever it changes, so tokens rotate without a restart. `apply`
 * parses the text and takes it over (returning how many entries it holds), or throws with
 * file:line; a file that cannot be read or parsed keeps what was applied before, and is logged.
 */
export class FollowedFile {
  private lastText: string;
  private watcher: FSWatcher | undefined;
  private stopPolling: (() => void) | undefined;
  private reading = false;

  private constructor(
    private readonly file: string,
    private readonly what: string,
    private readonly apply: (text: string) => number,
    private readonly log: Logger,
    text: string,
    private readonly clock: Clock,
  ) {
    this.lastText = text;
  }

  /** Reads and applies the file once (a missing or bad file fails the start, naming `flag`), then follows it. */
  static async open(file: string, flag: string, what: string, apply: (text: string) => number, logger: Logger, clock: Clock = realClock): Promise<FollowedFile> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new Error(`${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    const count = apply(text);
    const followed = new FollowedFile(file, what, apply, logger.child({ component: 'followed-file' }), text, clock);
    followed.log.info({ file, entries: count }, `accepting the ${what} of the file; changes are picked up without a restart`);
    followed.follow();
    return followed;
  }

  private follow(): void {
    try {
      // The directory, not the file: an editor's rename or a Secret's symlink swap replaces the file.
      this.watcher = watch(path.dirname(this.file), () => void this.reload());
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // Polling alone.
    }
    this.stopPolling = repeat(this.clock, POLL_MS, () => void this.reload());
  }

  private async reload(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const text = await readFile(this.file, 'utf8').catch((error: unknown) => {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        if (this.lastText !== `\0unreadable:${code}`) this.log.error({ file: this.file, code }, `cannot read the ${this.what} file; keeping what it held before`);
        this.lastText = `\0unreadable:${code}`;
        return undefined;
      });
      if (text === undefined || text === this.lastText) return;
      this.lastText = text;
      try {
        const count = this.apply(text);
        this.log.info({ file: this.file, entries: count }, `${this.what} file changed; now accepting what it holds`);
      } catch (error) {
        this.log.error({ file: this.file, problem: (error as Error).message }, `${this.what} file rejected; keeping what it held before`);
      }
    } finally {
      this.reading = false;
    }
  }

  close(): void {
    this.watcher?.close();
    this.stopPolling?.();
  }
}
