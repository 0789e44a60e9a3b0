import type { Command } from 'commander';
import { createLogger } from '../../observability/logger.js';
import { Agent } from '../../agent/agent.js';
import { DEFAULT_SERVER } from '../context.js';
import { readCaFile } from '../../net/trusting-fetch.js';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('node agent for proxyless gRPC: keeps cert/key/CA files current and proxies xDS with the workload token')
    .requiredOption('--token <token>', 'the workload token from registration (env ACCORD_WORKLOAD_TOKEN)', process.env.ACCORD_WORKLOAD_TOKEN)
    .option('--server <url>', 'Accord HTTP API URL, or several replicas comma-separated (env ACCORD_SERVER)', process.env.ACCORD_SERVER ?? DEFAULT_SERVER)
    .requiredOption('--xds <addresses>', 'control-plane xDS replicas host:port[,host:port...]; fails over in order')
    .requiredOption('--out <dir>', 'directory for cert.pem, key.pem, ca.pem and bootstrap.json')
    .option('--listen <addr>', 'local xDS proxy for proxyless clients: unix:PATH (default unix:<out>/xds.sock, mode 0600) or a loopback HOST:PORT (any local user could connect)')
    .option('--log-level <level>', 'log level', process.env.ACCORD_LOG_LEVEL ?? 'info')
    .option('--ca-file <file>', 'CA bundle to trust for an https:// server (env ACCORD_CA_FILE)', process.env.ACCORD_CA_FILE)
    .action(async (options: { token: string; server: string; xds: string; out: string; listen?: string; logLevel: string; caFile?: string }) => {
      const logger = createLogger({ level: options.logLevel });
      const agent = new Agent({
        token: options.token,
        caBundlePem: readCaFile(options.caFile),
        servers: options.server.split(',').map((s) => s.trim()).filter(Boolean),
        xds: options.xds.split(',').map((a) => a.trim()).filter(Boolean),
        outDir: options.out,
        listen: options.listen,
        logger,
      });
      await agent.start();
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          void agent.close().then(resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
