import type { Command } from 'commander';
import { clientFrom, withServerOptions } from '../context.js';
import { outputFormat, printStructured, printTable, relativeTime, say, withOutputOption } from '../output.js';

type Access = 'ALLOWED' | 'PARTIAL' | 'DENIED';
interface Verdict {
  service: string;
  namespace: string;
  access: Access;
  decidedBy: string[];
}
/** `GET /v1/describe/{workload|service}`. */
interface Description {
  kind: 'workload' | 'service';
  service: { name: string; namespace: string; protocol: string };
  mtls: { mode: string; scope: string };
  policies: { kind: string; namespace: string; name: string; role: string; inForce: boolean }[];
  defaultAccess: Access;
  callers: Verdict[];
  calls: Verdict[];
  workloads: { id: string; address: string; port: number; meshPort: number; health: string; spiffeId: string; certificate: { serial: string; spiffeId: string; notAfter: string } | null }[];
  upstreams: { service: string; namespace: string; localPort: number; endpoints: { workload: string; address: string; port: number; health: string }[] }[];
}

const ACCESS_WORDS: Record<Access, string> = { ALLOWED: 'may call', PARTIAL: 'may make some requests to', DENIED: 'may not call' };

function verdictRows(verdicts: readonly Verdict[]): string[][] {
  return verdicts.map((v) => [`${v.service}.${v.namespace}`, v.access, v.decidedBy.length > 0 ? v.decidedBy.join(', ') : 'no AuthorizationPolicy (allowed by default)']);
}

function printDescription(d: Description): void {
  const name = `${d.service.name}.${d.service.namespace}`;
  say(`${d.kind === 'workload' ? `workload ${d.workloads[0]?.id ?? ''} of service` : 'service'} ${name} (${d.service.protocol})`);
  say(`mTLS: ${d.mtls.mode} (mesh-wide)${d.mtls.mode === 'PERMISSIVE' ? '; plaintext callers are accepted too' : '; only mesh identities may connect'}`);
  say('');
  say('policies:');
  if (d.policies.length === 0) say('  none names this service');
  for (const p of d.policies) say(`  ${p.kind} ${p.namespace}/${p.name} (${p.role}${p.inForce ? '' : ', shadowed by another TrafficPolicy'})`);
  say('');
  say(`who may call it (a mesh caller no rule names: ${d.defaultAccess}):`);
  if (d.callers.length === 0) say('  no other service is registered');
  else printTable(['  CALLER', 'ACCESS', 'DECIDED BY'], verdictRows(d.callers).map(([a, ...rest]) => [`  ${a ?? ''}`, ...rest]));
  say('');
  say('whom it may call:');
  if (d.calls.length === 0) say('  it has no upstreams');
  for (const v of d.calls) say(`  it ${ACCESS_WORDS[v.access]} ${v.service}.${v.namespace}${v.decidedBy.length > 0 ? ` (${v.decidedBy.join(', ')})` : ''}`);
  say('');
  say('certificates:');
  const now = Date.now();
  printTable(
    ['  WORKLOAD', 'ADDRESS', 'HEALTH', 'SPIFFE ID', 'SERIAL', 'NOT AFTER'],
    d.workloads.map((w) => [
      `  ${w.id}`,
      `${w.address}:${w.meshPort}`,
      w.health,
      w.spiffeId,
      w.certificate?.serial ?? '-',
      w.certificate ? `${w.certificate.notAfter.replace(/\.\d{3}Z$/, 'Z')} (${relativeTime(w.certificate.notAfter, now)})` : 'no certificate issued (no proxy connected)',
    ]),
  );
  say('');
  say('upstreams:');
  if (d.upstreams.length === 0) say('  none');
  for (const u of d.upstreams) {
    say(`  ${u.service}.${u.namespace} on local port ${u.localPort}: ${u.endpoints.length === 0 ? 'no endpoints' : u.endpoints.map((e) => `${e.address}:${e.port} (${e.workload}, ${e.health})`).join(', ')}`);
  }
}

export function registerDescribeCommand(program: Command): void {
  withOutputOption(
    withServerOptions(
      program
        .command('describe')
        .description('one workload or service: mTLS mode, policies, who may call it and whom it may call, certificates, upstreams and endpoints')
        .argument('<workload|service>', 'a workload id or a service name')
        .option('-n, --namespace <namespace>', "the service's namespace, when its name is in several"),
    ),
  ).action(async (target: string, options: Record<string, unknown>) => {
    const query = typeof options.namespace === 'string' ? `?namespace=${encodeURIComponent(options.namespace)}` : '';
    const description = await clientFrom(options).json<Description>('GET', `/v1/describe/${encodeURIComponent(target)}${query}`);
    if (!printStructured(outputFormat(options), description)) printDescription(description);
  });
}
