import { randomBytes } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { checkDns1123Label } from '../../core/names.js';
import { CliError, UsageError } from '../client.js';
import { clientFrom, withServerOptions } from '../context.js';
import { humanDuration, outputFormat, printStructured, printTable, relativeTime, say, withOutputOption } from '../output.js';

type SyncState = 'SYNCED' | 'SENT' | 'STALE' | 'NACKED' | 'NOT SENT';
const SYNC_TYPES = ['CDS', 'EDS', 'LDS', 'RDS', 'SDS'] as const;
/** One row of `GET /v1/proxy-status`. */
interface ProxySyncRow {
  workload: string;
  service: string | null;
  namespace: string | null;
  replica: string;
  peer: string;
  connectedAt: string;
  sync: Record<(typeof SYNC_TYPES)[number], SyncState>;
  nacks: { type: string; at: string; errorDetail: string }[];
  certificate: { serial: string; notAfter: string } | null;
}
interface ProxyStatusAnswer {
  proxies: ProxySyncRow[];
  replicas: { replica: string; publishedAt: string }[];
  staleAfterSeconds: number;
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
  waitedSeconds?: number;
  waitingFor?: string[];
  fenced?: string[];
  abortedFrom?: string;
  reason?: string;
}

const PHASES: Record<string, string> = {
  none: 'no root rotation in progress',
  P0_PREPARE: 'P0 (preparing the new root)',
  P1_ADD_TRUST: 'P1 (adding the new root to every proxy\'s trust)',
  P2_SWITCH_ISSUER: 'P2 (issuing leaves from the new root)',
  P3_REMOVE_TRUST: 'P3 (removing the old root from trust)',
  P4_RETIRED: 'P4 (complete: the old root is retired)',
  ABORTING: 'aborting (every leaf comes from the old issuer again before the new root is dropped)',
  ABORTED: 'aborted (the old root is the only trusted root)',
};

function phaseText(rotation: RotationStatus): string {
  const phase = `${PHASES[rotation.phase] ?? `phase ${rotation.phase}`}${rotation.abortedFrom ? ` from ${rotation.abortedFrom}` : ''}`;
  const since = rotation.since ? `, since ${relativeTime(rotation.since)}` : '';
  const waiting = rotation.waitingFor && rotation.waitingFor.length > 0 ? `; waiting for ${rotation.waitingFor.length} proxy(ies): ${rotation.waitingFor.slice(0, 5).join(', ')}${rotation.waitingFor.length > 5 ? ', ...' : ''}` : '';
  const reason = rotation.reason && rotation.phase !== 'none' ? ` (${rotation.reason})` : '';
  return `${phase}${since}${waiting}${reason}`;
}

/** The CA in a few lines for people. */
function printCa(ca: CaStatus): void {
  say(`trust domain: ${ca.trustDomain}   health: ${ca.severity}   revoked certificates: ${ca.revokedCertificates}`);
  for (const cert of ca.certs) say(`${cert.cert} ${inDays(cert.notAfter)} (${isoSeconds(cert.notAfter)})`);
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

function isoSeconds(iso: string): string {
  return iso.replace(/\.\d{3}Z$/, 'Z');
}

/** Whole days, the way people say a certificate's remaining life. */
function inDays(iso: string, now = Date.now()): string {
  const days = Math.floor((Date.parse(iso) - now) / 86_400_000);
  if (days < 0) return `expired ${relativeTime(iso, now)}`;
  return days === 0 ? `expires ${relativeTime(iso, now)}` : `expires in ${days} day${days === 1 ? '' : 's'}`;
}

function printProxyTable(answer: ProxyStatusAnswer): void {
  if (answer.proxies.length === 0) {
    say(`no proxy is connected (replicas reporting: ${answer.replicas.map((r) => r.replica).join(', ')})`);
    return;
  }
  const now = Date.now();
  printTable(
    ['WORKLOAD', 'SERVICE', 'REPLICA', 'CONNECTED', ...SYNC_TYPES, 'CERT EXPIRES'],
    answer.proxies.map((proxy) => [
      proxy.workload,
      proxy.service ?? '(unregistered)',
      proxy.replica,
      humanDuration(now - Date.parse(proxy.connectedAt)),
      ...SYNC_TYPES.map((type) => proxy.sync[type]),
      proxy.certificate ? relativeTime(proxy.certificate.notAfter, now) : '-',
    ]),
  );
  const nacked = answer.proxies.filter((proxy) => proxy.nacks.length > 0).map((proxy) => proxy.workload);
  if (nacked.length > 0) say(`\nNACKED: ${[...new Set(nacked)].join(', ')} (run \`accord status <workload>\` for the reason)`);
}

function printProxyDetail(rows: readonly ProxySyncRow[], staleAfterSeconds: number): void {
  const now = Date.now();
  rows.forEach((proxy, index) => {
    if (index > 0) say('');
    say(`workload:     ${proxy.workload}`);
    say(`service:      ${proxy.service === null ? '(not registered)' : `${proxy.service} (namespace ${proxy.namespace ?? ''})`}`);
    say(`replica:      ${proxy.replica}`);
    say(`peer:         ${proxy.peer}`);
    say(`connected:    ${isoSeconds(proxy.connectedAt)} (for ${humanDuration(now - Date.parse(proxy.connectedAt))})`);
    say(
      `certificate:  ${proxy.certificate ? `serial ${proxy.certificate.serial}, not after ${isoSeconds(proxy.certificate.notAfter)} (${relativeTime(proxy.certificate.notAfter, now)})` : 'none issued by this replica'}`,
    );
    say(`sync (STALE: not ACKed within ${staleAfterSeconds}s):`);
    for (const type of SYNC_TYPES) say(`  ${type}  ${proxy.sync[type]}`);
    for (const nack of proxy.nacks) say(`NACK of ${nack.type} at ${isoSeconds(nack.at)} (${relativeTime(nack.at, now)}):\n  ${nack.errorDetail}`);
  });
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

  withOutputOption(
    withServerOptions(
      program
        .command('status')
        .description('every connected proxy on every replica: per xDS type SYNCED / SENT / STALE / NACKED / NOT SENT, certificate expiry; then the CA')
        .argument('[workload]', "one workload's proxies in full, NACK reasons included"),
    ),
    ['table', 'json', 'yaml'],
  ).action(async (workload: string | undefined, options: Record<string, unknown>) => {
    const client = clientFrom(options);
    const answer = await client.json<ProxyStatusAnswer>('GET', '/v1/proxy-status');
    if (workload !== undefined) {
      const rows = answer.proxies.filter((proxy) => proxy.workload === workload);
      if (rows.length === 0) throw new CliError(`no proxy of workload "${workload}" is connected to any replica`);
      if (printStructured(outputFormat(options), { ...answer, proxies: rows })) return;
      printProxyDetail(rows, answer.staleAfterSeconds);
      return;
    }
    if (printStructured(outputFormat(options), answer)) return;
    printProxyTable(answer);
    say('');
    printCa(await client.json<CaStatus>('GET', '/v1/ca'));
  });

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
    withServerOptions(
      ca
        .command('rotate')
        .description('start the root rotation (P0-P4), which advances on its own; --status shows where it is, --abort returns to the old root')
        .option('--status', 'show the phase, how long it has waited and for whom; start nothing')
        .option('--abort', 'return to the old root (from P1 or P2; refused from P3 on)'),
    ),
    ['table', 'json'],
  ).action(async (options: Record<string, unknown>) => {
    if (options.status && options.abort) throw new UsageError('give at most one of --status and --abort');
    const client = clientFrom(options);
    let status: RotationStatus;
    if (options.status) status = (await client.json<CaStatus>('GET', '/v1/ca')).rootRotation;
    else if (options.abort) status = await client.json<RotationStatus>('POST', '/v1/ca/rotate/abort', { json: {} });
    else status = await client.json<RotationStatus>('POST', '/v1/ca/rotate', { json: {} });
    if (printStructured(outputFormat(options), status)) return;
    say(`root rotation: ${phaseText(status)}`);
    if (!options.status) return;
    if (status.waitedSeconds !== undefined && status.phase !== 'none') say(`waited: ${humanDuration(status.waitedSeconds * 1000)} in this phase`);
    if (status.waitingFor && status.waitingFor.length > 0) {
      say(`waiting for ${status.waitingFor.length}:`);
      for (const id of status.waitingFor.slice(0, 50)) say(`  ${id}`);
      if (status.waitingFor.length > 50) say(`  ... and ${status.waitingFor.length - 50} more`);
      say('a proxy that is gone for good: `accord ca fence <workload>` (or deregister it)');
    }
    if (status.fenced && status.fenced.length > 0) say(`fenced: ${status.fenced.filter((id) => !id.startsWith('agent:')).join(', ')}`);
  });
  withOutputOption(
    withServerOptions(
      ca
        .command('fence')
        .description('remove one workload\'s proxies from every gate of the root rotation under way; they get the new trust when they return')
        .argument('<workload>', 'the workload id'),
    ),
    ['table', 'json'],
  ).action(async (workload: string, options: Record<string, unknown>) => {
    const status = await clientFrom(options).json<RotationStatus>('POST', '/v1/ca/fence', { json: { workload } });
    if (printStructured(outputFormat(options), status)) return;
    say(`fenced ${workload}: it no longer holds the root rotation back; it gets the trust of the moment when it returns`);
    say(`root rotation: ${phaseText(status)}`);
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

  type TokenKeyStatus = { signingKeyId?: string; previousKeyId?: string; previousValidUntil?: string };
  const printTokenKeys = (status: TokenKeyStatus): void => {
    say(`workload tokens are signed with key ${status.signingKeyId ?? '(none)'}`);
    say(status.previousKeyId ? `previous key ${status.previousKeyId} verifies the tokens it signed until ${status.previousValidUntil ?? '?'}` : 'no previous key is in force');
  };
  withOutputOption(
    withServerOptions(
      ca
        .command('rotate-token-key')
        .description('sign new workload tokens with a new key; tokens signed with the old one keep working for one --token-ttl (or until retire-token-key)'),
    ),
  ).action(async (options: Record<string, unknown>) => {
    const status = await clientFrom(options).json<TokenKeyStatus>('POST', '/v1/ca/token-key/rotate', { json: {} });
    if (!printStructured(outputFormat(options), status)) printTokenKeys(status);
  });
  withOutputOption(
    withServerOptions(ca.command('retire-token-key').description('stop accepting tokens signed with the previous workload-token key, now')),
  ).action(async (options: Record<string, unknown>) => {
    const status = await clientFrom(options).json<TokenKeyStatus>('POST', '/v1/ca/token-key/retire', { json: {} });
    if (!printStructured(outputFormat(options), status)) printTokenKeys(status);
  });

  withServerOptions(
    ca
      .command('backup')
      .description('write the CA material (root, intermediate, token keys), sealed with the KEK, to a file (0600)')
      .requiredOption('-o, --out <file>', 'where to write the backup'),
  ).action(async (options: Record<string, unknown>) => {
    const backup = await clientFrom(options).json<{ rootFingerprint: string; trustDomain: string; createdAt: string }>('GET', '/v1/ca/backup');
    const file = String(options.out);
    await writeFile(file, JSON.stringify(backup, null, 2) + '\n', { mode: 0o600 });
    await chmod(file, 0o600);
    say(`CA backup of trust domain ${backup.trustDomain} (root ${backup.rootFingerprint.slice(0, 16)}…) written to ${file}; it opens only with the KEK`);
  });
  withServerOptions(
    ca
      .command('restore')
      .description("put a backup's CA material back into a store that lost it (the root must be the one the server serves)")
      .requiredOption('-f, --file <file>', 'a file accord ca backup wrote'),
  ).action(async (options: Record<string, unknown>) => {
    const file = String(options.file);
    let backup: unknown;
    try {
      backup = JSON.parse(await readFile(file, 'utf8'));
    } catch (error) {
      throw new CliError(`--file ${file}: ${error instanceof SyntaxError ? 'not JSON' : (error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    const result = await clientFrom(options).json<{ restored: boolean; rootFingerprint: string }>('POST', '/v1/ca/restore', { json: { backup } });
    say(result.restored ? `CA material of root ${result.rootFingerprint.slice(0, 16)}… restored into the store` : `the store already holds root ${result.rootFingerprint.slice(0, 16)}…; nothing to restore`);
  });

  const token = program.command('token').description('workload tokens, and registration tokens for namespaces');
  withOutputOption(
    token
      .command('create')
      .description('make a new registration token for a namespace: prints the "<namespace> <token>" line for --registration-token-file (nothing is sent to the server)')
      .requiredOption('--namespace <name>', 'the namespace the token may register workloads in'),
  ).action((options: Record<string, unknown>) => {
    const namespace = String(options.namespace);
    const invalid = checkDns1123Label(namespace);
    if (invalid !== undefined) throw new UsageError(`--namespace: "${namespace.slice(0, 64)}" ${invalid}`);
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
