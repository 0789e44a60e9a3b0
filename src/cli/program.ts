import { Command } from 'commander';
import { registerServeCommand } from './commands/serve.js';
import { registerRegistryCommands } from './commands/registry.js';
import { registerOperationsCommands } from './commands/operations.js';
import { registerPolicyCommands } from './commands/policies.js';
import { registerAgentCommand } from './commands/agent.js';
import { registerDescribeCommand } from './commands/describe.js';
import { registerDemoCommand } from './commands/demo.js';

export function buildProgram(): Command {
  const program = new Command('accord')
    .description('Accord: a service-mesh control plane for Envoy and proxyless gRPC')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  registerServeCommand(program);
  registerRegistryCommands(program);
  registerPolicyCommands(program);
  registerOperationsCommands(program);
  registerDescribeCommand(program);
  registerAgentCommand(program);
  registerDemoCommand(program);
  return program;
}
