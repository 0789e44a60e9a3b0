import type { Command } from 'commander';
import { ApiClient, CliError } from './client.js';
import { readCaFile } from '../net/trusting-fetch.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:18080';

/** Adds the flags every API-calling command shares. */
export function withServerOptions(command: Command): Command {
  return command
    .option('--server <url>', 'Accord HTTP API (env ACCORD_SERVER)', process.env.ACCORD_SERVER ?? DEFAULT_SERVER)
    .option('--token <token>', 'operator token, or the read-only one for reads (env ACCORD_API_TOKEN)')
    .option('--ca-file <file>', 'CA bundle to trust for an https:// server, e.g. from `accord ca bundle` (env ACCORD_CA_FILE)');
}

export function clientFrom(options: { server?: string; token?: string; caFile?: string }): ApiClient {
  let caBundlePem: string | undefined;
  try {
    caBundlePem = readCaFile(options.caFile ?? process.env.ACCORD_CA_FILE);
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return new ApiClient({
    server: options.server ?? process.env.ACCORD_SERVER ?? DEFAULT_SERVER,
    token: options.token ?? process.env.ACCORD_API_TOKEN,
    caBundlePem,
  });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Left-aligned columns for human output. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}
