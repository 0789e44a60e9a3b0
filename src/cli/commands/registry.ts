import { InvalidArgumentError, type Command } from 'commander';
import { CliError, EXIT_USAGE } from '../client.js';
import { clientFrom, withServerOptions } from '../context.js';
import { outputFormat, printStructured, printTable, say, withOutputOption } from '../output.js';

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InvalidArgumentError('must be a port number 1-65535');
  return port;
}

function parseLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of value.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`label "${pair}" must look like key=value`);
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return labels;
}

interface UpstreamArg {
  service: string;
  namespace?: string;
  localPort: number;
}

/** `payments:9001` or `payments.billing:9001`; repeatable. */
function collectUpstream(value: string, previous: UpstreamArg[] = []): UpstreamArg[] {
  const match = /^([a-z0-9-]+)(?:\.([a-z0-9-]+))?:(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`upstream "${value}" must look like service[.namespace]:localPort`);
  const upstream: UpstreamArg = { service: match[1] as string, localPort: parsePort(match[3] as string) };
  if (match[2]) upstream.namespace = match[2];
  return [...previous, upstream];
}

function parseLocality(value: string): { region?: string; zone?: string } {
  const [region, zone] = value.split('/');
  return { ...(region ? { region } : {}), ...(zone ? { zone } : {}) };
}

interface WorkloadRow {
  id: string;
  service: string;
  namespace: string;
  address: string;
  port: number;
  protocol: string;
  health: string;
}

interface ServiceRow {
  name: string;
  namespace: string;
  protocol: string;
  ports: number[];
}

export function registerRegistryCommands(program: Command): void {
  withOutputOption(
    withServerOptions(
      program
        .command('register')
        .description(
          'register a workload; prints its id, SPIFFE ID and workload token. The same service, namespace, address and port ' +
            'registered again keeps its workload id (and identity): the registration is replaced',
        )
        .option('--service <name>', 'service the workload belongs to (required unless --gateway)')
        .option('--gateway <name>', 'register an ingress gateway: it serves the Gateway document of this name and --namespace')
        .option('--certificate-dir <dir>', "with --gateway: the gateway host's directory of <namespace>/<name>/tls.crt and tls.key")
        .requiredOption('--address <addr>', 'IP address or hostname where the workload is reached')
        .requiredOption('--port <port>', 'port the application listens on', parsePort)
        .option('--namespace <ns>', 'namespace', 'default')
        .option('--service-account <sa>', 'service account (default: the service name)')
        .option('--protocol <protocol>', 'http | http2 | grpc | tcp')
        .option('--mesh-port <port>', "the sidecar's inbound port, if it differs from --port", parsePort)
        .option('--labels <k=v,...>', 'labels', parseLabels)
        .option('--locality <region/zone>', 'locality', parseLocality)
        .option('--ttl <duration>', 'lease, e.g. 30s (renew with heartbeats or a connected sidecar)')
        .option('--upstream <service[.ns]:localPort>', 'a service this workload calls (repeatable)', collectUpstream),
    ),
    ['table', 'json', 'yaml'],
  ).action(async (options: Record<string, unknown>) => {
    if ((options.service === undefined) === (options.gateway === undefined)) {
      throw new CliError('give exactly one of --service NAME or --gateway NAME', EXIT_USAGE);
    }
    if (options.certificateDir !== undefined && options.gateway === undefined) throw new CliError('--certificate-dir needs --gateway', EXIT_USAGE);
    const body: Record<string, unknown> = {
      service: options.service ?? options.gateway,
      address: options.address,
      port: options.port,
      namespace: options.namespace,
    };
    for (const [flag, field] of [
      ['serviceAccount', 'serviceAccount'],
      ['protocol', 'protocol'],
      ['meshPort', 'meshPort'],
      ['labels', 'labels'],
      ['locality', 'locality'],
      ['ttl', 'ttl'],
      ['upstream', 'upstreams'],
    ] as const) {
      if (options[flag] !== undefined) body[field] = options[flag];
    }
    if (options.gateway !== undefined) body.gateway = options.certificateDir === undefined ? {} : { certificateDirectory: options.certificateDir };
    const result = await clientFrom(options).json<{ id: string; spiffeId: string; token: string; created: boolean }>('POST', '/v1/workloads', { json: body });
    if (printStructured(outputFormat(options), result)) return;
    say(
      result.created
        ? `registered workload ${result.id}`
        : `already registered: workload ${result.id} keeps its id and identity; its registration was replaced`,
    );
    say(`id: ${result.id}\nspiffeId: ${result.spiffeId}\ntoken: ${result.token}`);
  });

  withOutputOption(withServerOptions(program.command('deregister').description('remove a workload').argument('<id>', 'workload id')), ['table', 'json']).action(
    async (id: string, options: Record<string, unknown>) => {
      await clientFrom(options).json('DELETE', `/v1/workloads/${encodeURIComponent(id)}`);
      if (!printStructured(outputFormat(options), { id, deregistered: true })) say(`deregistered ${id}`);
    },
  );

  withOutputOption(withServerOptions(program.command('workloads').description('list registered workloads'))).action(async (options: Record<string, unknown>) => {
    const listing = await clientFrom(options).json<{ workloads: WorkloadRow[] }>('GET', '/v1/workloads');
    if (printStructured(outputFormat(options), listing)) return;
    printTable(
      ['ID', 'SERVICE', 'NAMESPACE', 'ADDRESS', 'PORT', 'PROTOCOL', 'HEALTH'],
      listing.workloads.map((w) => [w.id, w.service, w.namespace, w.address, String(w.port), w.protocol, w.health]),
    );
  });

  withOutputOption(withServerOptions(program.command('services').description('list services'))).action(async (options: Record<string, unknown>) => {
    const listing = await clientFrom(options).json<{ services: ServiceRow[] }>('GET', '/v1/services');
    if (printStructured(outputFormat(options), listing)) return;
    printTable(
      ['NAME', 'NAMESPACE', 'PROTOCOL', 'PORTS'],
      listing.services.map((s) => [s.name, s.namespace, s.protocol, s.ports.join(',')]),
    );
  });
}
