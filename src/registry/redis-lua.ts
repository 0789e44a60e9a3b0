import { createHash } from 'node:crypto';
import { RegistryError, StoreUnavailableError } from './errors.js';
import type { RedisClient } from './redis-connection.js';

/** A Lua script run by SHA, loaded on first use or after the server forgot it (restart, failover). */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: RedisClient, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}

// Replies meaning "Redis cannot serve right now" rather than "this request is wrong".
const UNAVAILABLE_REPLIES = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MOVED|ASK)\b/;

/**
 * Maps a client failure to the registry's catalog: connection loss, timeouts and "not now" replies
 * become StoreUnavailableError; other server replies are bugs and stay as they are.
 */
export function toRegistryError(err: unknown, operation: string): Error {
  if (err instanceof RegistryError) return err;
  const message = err instanceof Error ? err.message : String(err);
  const isReply = err instanceof Error && err.name === 'ReplyError';
  if (isReply && !UNAVAILABLE_REPLIES.test(message)) {
    return new Error(`redis ${operation} failed: ${message}`, { cause: err });
  }
  return new StoreUnavailableError(`registry store unavailable (redis ${operation}: ${message})`, { cause: err });
}
