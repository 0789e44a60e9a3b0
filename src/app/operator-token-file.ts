import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import { OperatorTokens, parseTokenFile } from '../api/operator-tokens.js';

/** Polling backs up the watch (a mounted Secret changes by a symlink swap some watchers miss). */
const POLL_MS = 2_000;

/**
 * The operator tokens of `--api-token-file`, re-read whenever the file changes, so a token is
 * rotated without a restart: add the new one, move the callers, remove the old one. A file that
 * cannot be read or parsed keeps the tokens accepted before (and is logged with file:line).
 */
export class OperatorTokenFile {
  readonly tokens: OperatorTokens;
  private lastText: string;
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  private reading = false;

  private constructor(
    private readonly file: string,
    private readonly log: Logger,
    text: string,
    readonly first: string,
  ) {
    this.lastText = text;
    this.tokens = new OperatorTokens(parseTokenFile(text, file));
  }

  /** Reads the file once (a missing, unreadable or empty file fails the start) and starts following it. */
  static async open(file: string, logger: Logger): Promise<OperatorTokenFile> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new Error(`--api-token-file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    const tokens = parseTokenFile(text, file);
    const tokenFile = new OperatorTokenFile(file, logger.child({ component: 'operator-tokens' }), text, tokens[0] as string);
    tokenFile.log.info({ file, tokens: tokens.length }, 'accepting the operator tokens of the token file; changes are picked up without a restart');
    tokenFile.follow();
    return tokenFile;
  }

  private follow(): void {
    try {
      // The directory, not the file: an editor's rename or a Secret's symlink swap replaces the file.
      this.watcher = watch(path.dirname(this.file), () => void this.reload());
      this.watcher.on('error', () => this.watcher?.close());
    } catch {
      // Polling alone.
    }
    this.poller = setInterval(() => void this.reload(), POLL_MS);
    this.poller.unref();
  }

  private async reload(): Promise<void> {
    if (this.reading) return;
    this.reading = true;
    try {
      const text = await readFile(this.file, 'utf8').catch((error: unknown) => {
        const code = (error as NodeJS.ErrnoException).code ?? String(error);
        if (this.lastText !== `\0unreadable:${code}`) this.log.error({ file: this.file, code }, 'cannot read the operator token file; keeping the tokens accepted before');
        this.lastText = `\0unreadable:${code}`;
        return undefined;
      });
      if (text === undefined || text === this.lastText) return;
      this.lastText = text;
      try {
        const tokens = parseTokenFile(text, this.file);
        this.tokens.replace(tokens);
        this.log.info({ file: this.file, tokens: tokens.length }, 'operator token file changed; now accepting its tokens');
      } catch (error) {
        this.log.error({ file: this.file, problem: (error as Error).message }, 'operator token file rejected; keeping the tokens accepted before');
      }
    } finally {
      this.reading = false;
    }
  }

  close(): void {
    this.watcher?.close();
    if (this.poller) clearInterval(this.poller);
  }
}
