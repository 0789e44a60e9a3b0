import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { UsageError } from '../client.js';
import { clientFrom, withServerOptions } from '../context.js';
import { outputFormat, printStructured, printTable, relativeTime, say, withOutputOption } from '../output.js';

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

interface CaCert {
  cert: string;
  subject: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  severity: string;
}
interface CaStatus {
  trustDomain: string;
  certs: CaCert[];
  severity: string;
  revokedCertificates: number;
  revokedWorkloads?: string[];
  rootRotation: { phase: string; since?: string; waitingFor?: string[]; reason?: string };
}
interface RotationStatus {
  phase: string;
  since?: string;
  waitingFor?: string[];
  reason?: string;
}

const PHASES: Record<string, string> = {
  none: 'no root rotation in progress',
  P0_PREPARE: 'P0 (preparing the new root)',
  P1_ADD_TRUST: 'P1 (adding the new root to every proxy\'s trust)',
  P2_SWITCH_ISSUER: 'P2 (issuing leaves from the new root)',
  P3_REMOVE_TRUST: 'P3 (removing the old root from trust)',
  P4_RETIRED: 'P4 (complete: the old root is retired)',
};

function phaseText(rotation: RotationStatus): string {
  const phase = PHASES[rotation.phase] ?? `phase ${rotation.phase}`;
  const since = rotation.since ? `, since ${relativeTime(rotation.since)}` : '';
  const waiting = rotation.waitingFor && rotation.waitingFor.length > 0 ? `; waiting for ${rotation.waitingFor.length} proxy(ies): ${rotation.waitingFor.slice(0, 5).join(', ')}${rotation.waitingFor.length > 5 ? ', ...' : ''}` : '';
  const reason = rotation.reason && rotation.phase !== 'none' ? ` (${rotation.reason})` : '';
  return `${phase}${since}${waiting}${reason}`;
}

/** The CA in a few lines for people. */
function printCa(ca: CaStatus): void {
  say(`trust domain: ${ca.trustDomain}   health: ${ca.severity}   revoked certificates: ${ca.revokedCertificates}`);
  printTable(
    ['CERT', 'EXPIRES', 'NOT AFTER', 'SUBJECT'],
    ca.certs.map((cert) => [cert.cert, relativeTime(cert.notAfter), cert.notAfter.replace(/\.\d{3}Z$/, 'Z'), cert.subject]),
  );
  say(`root rotation: ${phaseText(ca.rootRotation)}`);
}

/** Serials are hex (optionally colon-separated); workload ids always contain a "-" (`<service>-<suffix>`). */
function revokeTarget(target: string, options: { serial?: boolean; workload?: boolean }): { serial: string } | { workload: string } {
  if (options.serial && options.workload) throw new UsageError('give at most one of --serial and --workload');
  const looksLikeSerial = /^(?:[0-9a-f]{2}:){7,}[0-9a-f]{2}$|^[0-9a-f]{16,}$/i.test(target);
  if (options.serial || (!options.workload && looksLikeSerial)) {
    if (!looksLikeSerial) throw new UsageError(`"${target}" is not a certificate serial (hex, at least 8 bytes)`);
    return { serial: target.replaceAll(':', '').toLowerCase() };
  }
  if (!/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/.test(target)) throw new UsageError(`"${target}" is neither a workload id nor a certificate serial`);
  return { workload: target };
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
    // Proxies read these files from wherever they run: hand them absolute paths.
    if (options.caBundle) query.set('caBundle', path.resolve(String(options.caBundle)));
    if (options.certDir) query.set('certDir', path.resolve(String(options.certDir)));
    if (options.listen) query.set('listen', String(options.listen));
    if (options.delta) query.set('delta', 'true');
    const text = await clientFrom(options).text('GET', `/v1/workloads/${encodeURIComponent(String(options.workload))}/bootstrap?${query}`);
    if (typeof options.out === 'string') await writeFile(options.out, text, { mode: 0o600 });
    else process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  });

  withOutputOption(withServerOptions(program.command('status').description('connected proxies and their sync state; CA status')), ['table', 'json']).action(
    async (options: Record<string, unknown>) => {
      const client = clientFrom(options);
      const [{ proxies }, ca] = await Promise.all([client.json<{ proxies: ProxyRow[] }>('GET', '/v1/proxies'), client.json<CaStatus>('GET', '/v1/ca')]);
      if (printStructured(outputFormat(options), { proxies, ca })) return;
      if (proxies.length === 0) say('no proxy is connected');
      else {
        printTable(
          ['NODE', 'PEER', 'CONNECTED', 'TYPE', 'MODE', 'RESOURCES', 'ACKED', 'LAST NACK'],
          proxies.flatMap((proxy) =>
            proxy.types.map((type) => [
              proxy.nodeId,
              proxy.peer,
              relativeTime(proxy.connectedAt),
              shortType(type.typeUrl),
              type.mode,
              String(type.resources.length),
              String(type.resources.filter((r) => r.status === 'ACKED').length),
              type.lastNack ? type.lastNack.errorDetail.slice(0, 60) : '',
            ]),
          ),
        );
      }
      say('');
      printCa(ca);
    },
  );

  const ca = program.command('ca').description('certificate authority operations');
  withOutputOption(withServerOptions(ca.command('show').description('CA status: roots, intermediates, expiry, rotation phase'))).action(
    async (options: Record<string, unknown>) => {
      const status = await clientFrom(options).json<CaStatus>('GET', '/v1/ca');
      if (!printStructured(outputFormat(options), status)) printCa(status);
    },
  );
  withServerOptions(ca.command('bundle').description('print the trust bundle (PEM)')).action(async (options: Record<string, unknown>) => {
    process.stdout.write(await clientFrom(options).text('GET', '/v1/ca/bundle'));
  });
  withOutputOption(
    withServerOptions(ca.command('rotate').description('start the root rotation (P0-P4), or report where a running one is; it advances on its own')),
    ['table', 'json'],
  ).action(async (options: Record<string, unknown>) => {
    const status = await clientFrom(options).json<RotationStatus>('POST', '/v1/ca/rotate', { json: {} });
    if (!printStructured(outputFormat(options), status)) say(`root rotation: ${phaseText(status)}`);
  });
  withOutputOption(
    withServerOptions(
      ca
        .command('revoke')
        .description('revoke every certificate of a workload (by workload id) or one certificate (by serial, hex)')
        .argument('<workload|serial>', 'a workload id, or a certificate serial in hex (colons allowed)')
        .option('--workload', 'treat the argument as a workload id')
        .option('--serial', 'treat the argument as a certificate serial'),
    ),
    ['table', 'json'],
  ).action(async (target: string, options: Record<string, unknown>) => {
    const body = revokeTarget(target, { serial: options.serial === true, workload: options.workload === true });
    const result = await clientFrom(options).json<{ revoked: string[]; crlPublished: boolean }>('POST', '/v1/ca/revoke', { json: body });
    if (printStructured(outputFormat(options), result)) return;
    const published = result.crlPublished ? '; the CRL is published to every proxy' : '';
    if ('workload' in body) {
      say(
        `revoked workload ${body.workload} (taken as a workload id): ${result.revoked.length} certificate(s) revoked` +
          `${result.revoked.length > 0 ? ` (${result.revoked.join(', ')})` : ''}; it gets no new certificate${published}`,
      );
    } else {
      say(`revoked certificate serial ${body.serial} (taken as a serial)${published}`);
    }
  });

  const token = program.command('token').description('workload tokens, and registration tokens for namespaces');
  withOutputOption(
    token
      .command('create')
      .description('make a new registration token for a namespace: prints the "<namespace> <token>" line for --registration-token-file (nothing is sent to the server)')
      .requiredOption('--namespace <name>', 'the namespace the token may register workloads in'),
  ).action((options: Record<string, unknown>) => {
    const namespace = String(options.namespace);
    if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(namespace)) throw new UsageError(`--namespace: "${namespace.slice(0, 64)}" is not a namespace (a DNS-1123 label)`);
    const created = { namespace, token: randomBytes(32).toString('base64url') };
    if (printStructured(outputFormat(options), created)) return;
    say(`${created.namespace} ${created.token}`);
  });
  withOutputOption(
    withServerOptions(
      token
        .command('deny')
        .description("refuse one workload token (by its id, the JWT's jti) on every replica until it expires")
        .argument('<tokenId>', 'the token id'),
    ),
  ).action(async (tokenId: string, options: Record<string, unknown>) => {
    const denied = (await clientFrom(options).json('POST', '/v1/tokens/deny', { json: { tokenId } })) as { tokenId: string; deniedUntil: string };
    if (printStructured(outputFormat(options), denied)) return;
    say(`token ${denied.tokenId} is refused on every replica until ${denied.deniedUntil} (${relativeTime(denied.deniedUntil)})`);
  });
}
