import { writeFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { clientFrom, printJson, printTable, withServerOptions } from '../context.js';

interface ProxyTypeStatus {
  typeUrl: string;
  mode: string;
  ackedVersion?: string;
  lastNack?: { errorDetail: string };
  resources: { status: string }[];
}
interface ProxyRow {
  nodeId: string;
  peer: string;
  connectedAt: string;
  types: ProxyTypeStatus[];
}

function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}

export function registerOperationsCommands(program: Command): void {
  withServerOptions(
    program
      .command('bootstrap')
      .description("print a workload's proxy bootstrap (Envoy YAML or gRPC xDS JSON)")
      .requiredOption('--workload <id>', 'workload id')
      .option('--format <format>', 'envoy | grpc', (value: string) => {
        if (value !== 'envoy' && value !== 'grpc') throw new InvalidArgumentError('must be envoy or grpc');
        return value;
      }, 'envoy')
      .option('--xds <addresses>', 'control-plane xDS addresses host:port[,host:port] the proxy should use')
      .option('--ca-bundle <path>', 'path of the mesh CA bundle on the proxy host (Envoy format)')
      .option('--cert-dir <dir>', 'directory of the agent-written cert files (gRPC format)')
      .option('--listen <addr>', "the agent's local xDS proxy address (gRPC format)")
      .option('--delta', 'use incremental (delta) ADS (Envoy format)')
      .option('--out <file>', 'write to a file instead of stdout'),
  ).action(async (options: Record<string, unknown>) => {
    const query = new URLSearchParams({ format: String(options.format) });
    if (options.xds) query.set('xds', String(options.xds));
    if (options.caBundle) query.set('caBundle', String(options.caBundle));
    if (options.certDir) query.set('certDir', String(options.certDir));
    if (options.listen) query.set('listen', String(options.listen));
    if (options.delta) query.set('delta', 'true');
    const text = await clientFrom(options).text('GET', `/v1/workloads/${encodeURIComponent(String(options.workload))}/bootstrap?${query}`);
    if (typeof options.out === 'string') await writeFile(options.out, text, { mode: 0o600 });
    else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  });

  withServerOptions(program.command('status').description('connected proxies and their sync state; CA status').option('--json', 'print JSON')).action(
    async (options: Record<string, unknown>) => {
      const client = clientFrom(options);
      const [{ proxies }, ca] = await Promise.all([
        client.json<{ proxies: ProxyRow[] }>('GET', '/v1/proxies'),
        client.json<unknown>('GET', '/v1/ca'),
      ]);
      if (options.json) return printJson({ proxies, ca });
      printTable(
        ['NODE', 'PEER', 'TYPE', 'MODE', 'RESOURCES', 'ACKED', 'LAST NACK'],
        proxies.flatMap((proxy) =>
          proxy.types.map((type) => [
            proxy.nodeId,
            proxy.peer,
            shortType(type.typeUrl),
            type.mode,
            String(type.resources.length),
            String(type.resources.filter((r) => r.status === 'ACKED').length),
            type.lastNack ? type.lastNack.errorDetail.slice(0, 60) : '',
          ]),
        ),
      );
      process.stdout.write(`\nCA: ${JSON.stringify(ca)}\n`);
    },
  );

  const ca = program.command('ca').description('certificate authority operations');
  withServerOptions(ca.command('show').description('CA status: roots, intermediates, expiry, rotation phase').option('--json', 'print JSON')).action(
    async (options: Record<string, unknown>) => printJson(await clientFrom(options).json('GET', '/v1/ca')),
  );
  withServerOptions(ca.command('bundle').description('print the trust bundle (PEM)')).action(async (options: Record<string, unknown>) => {
    process.stdout.write(await clientFrom(options).text('GET', '/v1/ca/bundle'));
  });
  withServerOptions(ca.command('rotate').description('start, or advance, the root rotation (P0-P4); prints the phase').option('--json', 'print JSON')).action(
    async (options: Record<string, unknown>) => printJson(await clientFrom(options).json('POST', '/v1/ca/rotate', { json: {} })),
  );
  withServerOptions(
    ca
      .command('revoke')
      .description('revoke a certificate by serial (hex) or every certificate of a workload')
      .argument('<serial|workload>', 'certificate serial in hex, or a workload id')
      .option('--json', 'print JSON'),
  ).action(async (target: string, options: Record<string, unknown>) => {
    const isSerial = /^(?:[0-9a-f]{2}:){7,}[0-9a-f]{2}$|^[0-9a-f]{16,}$/i.test(target);
    const body = isSerial ? { serial: target.replaceAll(':', '').toLowerCase() } : { workload: target };
    printJson(await clientFrom(options).json('POST', '/v1/ca/revoke', { json: body }));
  });

  const token = program.command('token').description('workload tokens');
  withServerOptions(
    token
      .command('deny')
      .description("refuse one workload token (by its id, the JWT's jti) on every replica until it expires")
      .argument('<tokenId>', 'the token id'),
  ).action(async (tokenId: string, options: Record<string, unknown>) => {
    printJson(await clientFrom(options).json('POST', '/v1/tokens/deny', { json: { tokenId } }));
  });
}
