import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ApiClient, CliError } from './client.js';
import { readCaFile } from '../net/trusting-fetch.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:18080';

/** Adds the flags every API-calling command shares. */
export function withServerOptions(command: Command): Command {
  return command
    .option('--server <url>', 'Accord HTTP API (env ACCORD_SERVER)', process.env.ACCORD_SERVER ?? DEFAULT_SERVER)
    .option('--token <token>', 'operator token, or the read-only one for reads (env ACCORD_API_TOKEN)')
    .option('--token-file <path>', 'file holding the operator token, e.g. a mounted Secret (env ACCORD_API_TOKEN_FILE)')
    .option('--ca-file <file>', 'CA bundle to trust for an https:// server, e.g. from `accord ca bundle` (env ACCORD_CA_FILE)');
}

function tokenFromFile(file: string | undefined): string | undefined {
  if (file === undefined || file === '') return undefined;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new CliError(`--token-file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  // The first token of a serve token file (one a line, # comments) works too.
  const token = text.split(/\r?\n/).map((line) => line.trim()).find((line) => line !== '' && !line.startsWith('#'));
  if (token === undefined) throw new CliError(`--token-file: ${file} is empty`);
  return token;
}

export function clientFrom(options: { server?: string; token?: string; tokenFile?: string; caFile?: string }): ApiClient {
  let caBundlePem: string | undefined;
  try {
    caBundlePem = readCaFile(options.caFile ?? process.env.ACCORD_CA_FILE);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return new ApiClient({
    server: options.server ?? process.env.ACCORD_SERVER ?? DEFAULT_SERVER,
    token: options.token ?? (process.env.ACCORD_API_TOKEN || undefined) ?? tokenFromFile(options.tokenFile ?? process.env.ACCORD_API_TOKEN_FILE),
    caBundlePem,
  });
}
