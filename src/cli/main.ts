#!/usr/bin/env node
import { CommanderError } from 'commander';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './client.js';
import { buildProgram } from './program.js';

async function main(argv: readonly string[]): Promise<void> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander already printed help, the version, or the usage error.
      const informational = error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.exitCode === 0;
      process.exitCode = informational ? 0 : EXIT_USAGE;
      return;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`accord: ${message.split('\n')[0]}\n`);
    process.exitCode = error instanceof CliError ? error.exitCode : EXIT_FAILURE;
  }
}

await main(process.argv);
