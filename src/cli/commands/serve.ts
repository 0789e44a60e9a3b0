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
    .option('--host <addr>', 'address to bind (default 127.0.0.1; anything else needs TLS on xDS or --insecure; env ACCORD_HOST)')
    .option('--trust-domain <name>', 'SPIFFE trust domain (env ACCORD_TRUST_DOMAIN)')
    .option('--ca-root <file>', 'operator-supplied root certificate PEM (env ACCORD_CA_ROOT)')
    .option('--ca-cert <file>', 'operator-supplied signing CA certificate PEM (env ACCORD_CA_CERT)')
    .option('--ca-key <file>', "the signing CA's private key PEM (env ACCORD_CA_KEY)")
    .option('--ca-backup <file>', 'a sealed CA backup (accord ca backup) restored when Redis holds no CA material (env ACCORD_CA_BACKUP_FILE)')
    .option('--allow-new-root', 'mint a new CA root although this data dir served another one and Redis lost it (env ACCORD_ALLOW_NEW_ROOT)')
    .option('--xds-tls', 'serve xDS over TLS with a certificate from the mesh CA (env ACCORD_XDS_TLS)')
    .option('--xds-tls-cert <file>', 'serve xDS over TLS with this certificate chain PEM instead (env ACCORD_XDS_TLS_CERT)')
    .option('--xds-tls-key <file>', 'the private key PEM for --xds-tls-cert (env ACCORD_XDS_TLS_KEY)')
    .option('--http-tls', 'serve the HTTP API over TLS with a certificate from the mesh CA (env ACCORD_HTTP_TLS)')
    .option('--http-tls-cert <file>', 'serve the HTTP API over TLS with this certificate chain PEM instead (env ACCORD_HTTP_TLS_CERT)')
    .option('--http-tls-key <file>', 'the private key PEM for --http-tls-cert (env ACCORD_HTTP_TLS_KEY)')
    .option('--tls-san <names>', "extra DNS names / IPs for the control plane's mesh-CA certificate, comma-separated (env ACCORD_TLS_SAN)")
    .option('--insecure', 'allow xDS without TLS on a non-loopback address; warned about on every start (env ACCORD_INSECURE)')
    .option('--api-token-file <file>', 'operator tokens, one a line (# comments), all accepted, re-read on change (env ACCORD_API_TOKEN_FILE)')
    .option('--registration-token-file <file>', 'per-namespace registration tokens, "<namespace> <token>" a line, re-read on change (env ACCORD_REGISTRATION_TOKEN_FILE)')
    .option('--token-ttl <duration>', 'lifetime of new workload tokens, e.g. 720h (default 30 days; env ACCORD_TOKEN_TTL)')
    .option('--issue-burst <n>', 'certificates one workload may get at once (default 5; env ACCORD_ISSUE_BURST)')
    .option('--issue-per-minute <n>', 'certificates per minute per workload after the burst (default 3; env ACCORD_ISSUE_PER_MINUTE)')
    .option('--issuance-workers <n>', 'worker threads that generate and sign workload certificates; 0 = on the event loop (default 1 with 2+ CPUs; env ACCORD_ISSUANCE_WORKERS)')
    .option('--log-level <level>', 'trace | debug | info | warn | error (env ACCORD_LOG_LEVEL)')
    .option('--drain-period <duration>', 'after SIGTERM: not ready, new xDS streams refused, open ones served this long; default 10s (env ACCORD_DRAIN_PERIOD)')
    .option('--drain-seconds <n>', 'the drain period in whole seconds (older form of --drain-period; env ACCORD_DRAIN_SECONDS)')
    .option('--drain-close-window <duration>', 'after the drain period, open xDS streams are ended at random moments within this; default 5s (env ACCORD_DRAIN_CLOSE_WINDOW)')
    .option('--max-connection-age <duration>', 'xDS connections older than this (±10 %) are closed so proxies rebalance across replicas; 0 = never; default 30m (env ACCORD_MAX_CONNECTION_AGE)')
    .option(
      '--lease-reconnect-window <duration>',
      'after every replica was down, each lease gets a full lease plus this before it can expire; default 30s (env ACCORD_LEASE_RECONNECT_WINDOW)',
    )
    .option('--stale-after <duration>', '`accord status` shows a response not ACKed within this long as STALE; default 10s (env ACCORD_STALE_AFTER)')
    .option('--rotation-grace <duration>', 'a proxy silent this long no longer holds a root rotation back; default 10m (env ACCORD_ROTATION_GRACE)')
    .option('--replica-name <name>', 'this replica in `accord status`; default <host name>-<pid> (env ACCORD_REPLICA_NAME)')
    .addHelpText(
      'after',
      '\nSecrets from files: ACCORD_CA_KEK_FILE, ACCORD_CA_KEK_PREVIOUS_FILE, ACCORD_REDIS_FILE and ACCORD_REDIS_PASSWORD_FILE\n' +
        'name a file holding the value of ACCORD_CA_KEK, ACCORD_CA_KEK_PREVIOUS, ACCORD_REDIS or ACCORD_REDIS_PASSWORD (the\n' +
        'Redis password apart from the URL), e.g. a mounted Kubernetes Secret.',
    )
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
