import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { loadPolicyDirectory, loadPolicyFile, formatPolicyError, documentsToJson } from '../../config/index.js';
import { CliError } from '../client.js';
import { clientFrom, printJson, withServerOptions } from '../context.js';

interface ProxyDiff {
  proxy: string;
  diff: string;
}
interface ApplyResult {
  applied: boolean;
  revision?: number;
  documents: number;
  diffs?: ProxyDiff[];
}

export function registerApplyCommand(program: Command): void {
  withServerOptions(
    program
      .command('apply')
      .description('validate policy documents and apply them all-or-nothing (PUT /v1/policies)')
      .requiredOption('-f, --file <path>', 'a policy file or a directory of *.yaml files')
      .option('--dry-run', 'validate and print, per affected proxy, the diff of its Envoy resources; change nothing')
      .option('--json', 'print JSON'),
  ).action(async (options: Record<string, unknown>) => {
    const path = String(options.file);
    const isDirectory = (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
    // Validate locally first so errors point at the operator's own files, lines and columns.
    const loaded = isDirectory ? await loadPolicyDirectory(path) : await loadPolicyFile(path);
    if (!loaded.ok) {
      for (const error of loaded.errors) process.stderr.write(`${formatPolicyError(error)}\n`);
      throw new CliError(`${loaded.errors.length} problem(s) in ${path}; nothing applied`);
    }
    const dryRun = options.dryRun === true;
    const result = await clientFrom(options).json<ApplyResult>('PUT', `/v1/policies${dryRun ? '?dryRun=true' : ''}`, {
      json: documentsToJson(loaded.documents),
    });
    if (options.json) return printJson(result);
    if (dryRun) {
      const diffs = result.diffs ?? [];
      if (diffs.length === 0) process.stdout.write('no proxy would change\n');
      for (const { proxy, diff } of diffs) process.stdout.write(`--- proxy ${proxy}\n${diff}\n`);
      process.stdout.write(`dry run: ${result.documents} document(s) valid; nothing applied\n`);
    } else {
      process.stdout.write(`applied ${result.documents} document(s) at revision ${result.revision ?? '?'}\n`);
    }
  });
}
