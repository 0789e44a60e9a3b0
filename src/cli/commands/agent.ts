import type { Command } from 'commander';
import path from 'node:path';
import { DEFAULT_SERVER } from '../context.js';
import { readCaFile } from '../../net/trusting-fetch.js';
import { EXIT_FAILURE, UsageError } from '../client.js';
import { parseStatusAddress, type StatusAddress } from '../../agent/status-server.js';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('node agent for proxyless gRPC: keeps cert/key/CA files current and proxies xDS with the workload token')
    .requiredOption('--token <token>', 'the workload token from registration (env ACCORD_WORKLOAD_TOKEN)', process.env.ACCORD_WORKLOAD_TOKEN)
    .option('--server <url>', 'Accord HTTP API URL, or several replicas comma-separated (env ACCORD_SERVER)', process.env.ACCORD_SERVER ?? DEFAULT_SERVER)
    .requiredOption('--xds <addresses>', 'control-plane xDS replicas host:port[,host:port...]; fails over in order')
    .requiredOption('--out <dir>', 'directory for cert.pem, key.pem, ca.pem and bootstrap.json')
    .option('--listen <addr>', 'local xDS proxy for proxyless clients: unix:PATH (default unix:<out>/xds.sock, mode 0600) or a loopback HOST:PORT (any local user could connect)')
    .option(
      '--status <addr>',
      'where to serve /healthz and /status: unix:PATH, a loopback HOST:PORT, or off (default: unix:<out>/agent.sock)',
    )
    .option('--log-level <level>', 'log level', process.env.ACCORD_LOG_LEVEL ?? 'info')
    .option('--ca-file <file>', 'CA bundle to trust for an https:// server (env ACCORD_CA_FILE)', process.env.ACCORD_CA_FILE)
    .action(async (options: { token: string; server: string; xds: string; out: string; listen?: string; status?: string; logLevel: string; caFile?: string }) => {
      let status: StatusAddress | undefined;
      try {
        const chosen = options.status ?? `unix:${path.join(path.resolve(options.out), 'agent.sock')}`;
        status = chosen === 'off' ? undefined : parseStatusAddress(chosen);
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message : String(error));
      }
      // Loaded here, not at start-up: every other command starts faster without the agent's crypto and gRPC.
      const [{ Agent }, { createLogger }] = await Promise.all([import('../../agent/agent.js'), import('../../observability/logger.js')]);
      const logger = createLogger({ level: options.logLevel });
      const agent = new Agent({
        token: options.token,
        caBundlePem: readCaFile(options.caFile),
        servers: options.server.split(',').map((s) => s.trim()).filter(Boolean),
        xds: options.xds.split(',').map((a) => a.trim()).filter(Boolean),
        outDir: options.out,
        listen: options.listen,
        status,
        logger,
      });
      try {
        await agent.start();
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        process.stderr.write(`accord: agent failed to start: ${message.split('\n')[0]}\n`);
        process.exit(EXIT_FAILURE);
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void agent.close().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
