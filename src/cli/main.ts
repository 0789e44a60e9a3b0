#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError } from './client.js';
import { buildProgram } from './program.js';

async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed help/version or the usage error.
      process.exitCode = error.exitCode;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`accord: ${message.split('\n')[0]}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : 1;
  }
}

await main(process.argv);
