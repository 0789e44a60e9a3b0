import type { Command } from 'commander';
import { resolveServeOptions, type RawServeFlags } from '../../app/options.js';

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
    .option('--drain-seconds <n>', 'the drain period after SIGTERM: xDS streams end at once (proxies reconnect elsewhere), in-flight calls get this long; default 10 (env ACCORD_DRAIN_SECONDS)')
    .option(
      '--lease-reconnect-window <duration>',
      'after every replica was down, each lease gets a full lease plus this before it can expire; default 30s (env ACCORD_LEASE_RECONNECT_WINDOW)',
    )
    .addHelpText(
      'after',
      '\nSecrets from files: ACCORD_API_TOKEN_FILE, ACCORD_CA_KEK_FILE, ACCORD_REDIS_FILE and ACCORD_REDIS_PASSWORD_FILE\n' +
        'name a file holding the value of ACCORD_API_TOKEN, ACCORD_CA_KEK, ACCORD_REDIS or ACCORD_REDIS_PASSWORD (the\n' +
        'Redis password apart from the URL), e.g. a mounted Kubernetes Secret.',
    )
    .action(async (flags: RawServeFlags) => {
      const options = resolveServeOptions(flags);
      const { runServe } = await import('../../app/serve.js');
      await runServe(options);
    });
}
