import type { Command } from 'commander';
import { ApiClient } from './client.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:18080';

/** Adds the flags every API-calling command shares. */
export function withServerOptions(command: Command): Command {
  return command
    .option('--server <url>', 'Accord HTTP API (env ACCORD_SERVER)', process.env.ACCORD_SERVER ?? DEFAULT_SERVER)
    .option('--token <token>', 'operator token (env ACCORD_API_TOKEN)');
}

export function clientFrom(options: { server?: string; token?: string }): ApiClient {
  return new ApiClient({
    server: options.server ?? process.env.ACCORD_SERVER ?? DEFAULT_SERVER,
    token: options.token ?? process.env.ACCORD_API_TOKEN,
  });
}
