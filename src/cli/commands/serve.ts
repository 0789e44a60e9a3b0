import type { Command } from 'commander';
import { resolveServeOptions, type RawServeFlags } from '../../app/options.js';
import { EXIT_FAILURE, UsageError } from '../client.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the control plane (with no flags: in-memory registry, dev CA in ./.accord, xDS :18000, HTTP :18080)')
    .option('--config <path>', 'policy file or directory, watched (env ACCORD_CONFIG)')
    .option('--redis <url>', 'Redis URL for the registry; required for more than one replica (env ACCORD_REDIS)')
    .option('--redis-prefix <prefix>', 'key prefix in Redis (env ACCORD_REDIS_PREFIX)')
    .option('--data-dir <dir>', 'data directory for the dev CA and the generated API token (env ACCORD_DATA_DIR)')
    .option('--xds-port <port>', 'xDS gRPC port (env ACCORD_XDS_PORT)')
    .option('--http-port <port>', 'HTTP API port (env ACCORD_HTTP_PORT)')
    .option('--host <addr>', 'address to bind (env ACCORD_HOST)')
    .option('--trust-domain <name>', 'SPIFFE trust domain (env ACCORD_TRUST_DOMAIN)')
    .option('--ca-root <file>', 'operator-supplied root certificate PEM (env ACCORD_CA_ROOT)')
    .option('--ca-cert <file>', 'operator-supplied signing CA certificate PEM (env ACCORD_CA_CERT)')
    .option('--ca-key <file>', "the signing CA's private key PEM (env ACCORD_CA_KEY)")
    .option('--xds-tls', 'serve xDS over TLS with a certificate from the mesh CA (env ACCORD_XDS_TLS)')
    .option('--log-level <level>', 'trace | debug | info | warn | error (env ACCORD_LOG_LEVEL)')
    .action(async (flags: RawServeFlags) => {
      let options: ReturnType<typeof resolveServeOptions>;
      try {
        options = resolveServeOptions(flags);
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message : String(error));
      }
      const { runServe } = await import('../../app/serve.js');
      try {
        await runServe(options);
      } catch (error) {
        // Whatever had started (a Redis connection, timers) must not keep a half-started server alive.
        const message = error instanceof Error ? error.message : String(error);
        process.stderr.write(`accord: serve failed to start: ${message.split('\n')[0]}\n`);
        process.exit(EXIT_FAILURE);
      }
    });
}
