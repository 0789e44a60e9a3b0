/** Each section of the dashboard from the API's answers; every value goes in as text (dom.ts). */
import { h, type Child } from './dom.js';
import { isoDate, relative } from './format.js';
import { edgeTable, edgesOf, graphSvg, keyOf, type ServiceKey, type Verdict } from './graph.js';

export interface ServiceRow {
  readonly name: string;
  readonly namespace: string;
  readonly protocol: string;
  readonly ports?: readonly number[];
}

export interface WorkloadRow {
  readonly id: string;
  readonly service: string;
  readonly namespace: string;
  readonly address: string;
  readonly port: number;
  readonly health: string;
}

export type SyncState = 'SYNCED' | 'SENT' | 'STALE' | 'NACKED' | 'NOT SENT';
export const SYNC_TYPES = ['CDS', 'EDS', 'LDS', 'RDS', 'SDS'] as const;

export interface ProxyRow {
  readonly workload: string;
  readonly service: string | null;
  readonly namespace: string | null;
  readonly replica: string;
  readonly connectedAt: string;
  readonly sync: Readonly<Record<string, SyncState>>;
  readonly nacks: readonly { readonly type: string; readonly at: string; readonly errorDetail: string }[];
  readonly certificate: { readonly serial: string; readonly notAfter: string } | null;
}

export interface ProxyStatus {
  readonly proxies: readonly ProxyRow[];
  readonly replicas: readonly { readonly replica: string; readonly publishedAt: string }[];
  readonly staleAfterSeconds: number;
}

export interface RootRotation {
  readonly phase: string;
  readonly since?: string;
  readonly waitedSeconds?: number;
  readonly waitingFor?: readonly string[];
  readonly fenced?: readonly string[];
  readonly abortedFrom?: string;
  readonly reason?: string;
}

export interface CaStatus {
  readonly trustDomain: string;
  readonly severity: string;
  readonly certs: readonly { readonly cert: string; readonly subject: string; readonly notAfter: string; readonly severity: string }[];
  readonly revokedCertificates?: number;
  readonly rootRotation: RootRotation;
}

export interface ServerStatus {
  readonly ready: boolean;
  readonly checks: Readonly<Record<string, { readonly ok: boolean; readonly detail?: unknown }>>;
}

export interface Description {
  readonly service: ServiceKey;
  readonly callers: readonly Verdict[];
  readonly workloads: readonly { readonly id: string; readonly spiffeId: string; readonly certificate: { readonly serial: string; readonly notAfter: string } | null }[];
}

const table = (id: string, headings: readonly string[], rows: readonly HTMLTableRowElement[], empty: string): HTMLElement =>
  rows.length === 0
    ? h('p', { class: 'muted', id: `${id}-empty` }, empty)
    : h('table', { id }, h('thead', {}, h('tr', {}, headings.map((title) => h('th', {}, title)))), h('tbody', {}, rows));

const badge = (text: string, kind: string): HTMLElement => h('span', { class: `badge ${kind}` }, text);

export function servicesView(services: readonly ServiceRow[], workloads: readonly WorkloadRow[]): Child[] {
  const count = (service: ServiceRow): number => workloads.filter((w) => w.service === service.name && w.namespace === service.namespace).length;
  return [
    h('h3', {}, 'Services'),
    table(
      'services',
      ['Service', 'Namespace', 'Protocol', 'Ports', 'Workloads'],
      services.map((service) =>
        h('tr', { 'data-service': keyOf(service) }, h('td', {}, service.name), h('td', {}, service.namespace), h('td', {}, service.protocol), h('td', {}, (service.ports ?? []).join(', ')), h('td', {}, count(service))),
      ),
      'No service is registered.',
    ),
    h('h3', {}, 'Workloads'),
    table(
      'workloads',
      ['Workload', 'Service', 'Namespace', 'Address', 'Health'],
      workloads.map((w) =>
        h('tr', { 'data-workload': w.id }, h('td', {}, w.id), h('td', {}, w.service), h('td', {}, w.namespace), h('td', {}, `${w.address}:${w.port}`), h('td', {}, badge(w.health, `health-${w.health.toLowerCase()}`))),
      ),
      'No workload is registered.',
    ),
  ];
}

export function proxiesView(status: ProxyStatus): Child[] {
  return [
    h('p', { class: 'muted' }, `Replicas reporting: ${status.replicas.map((r) => r.replica).join(', ') || 'none'}. A response not ACKed within ${status.staleAfterSeconds}s is STALE.`),
    table(
      'proxies',
      ['Workload', 'Service', 'Replica', 'Connected', ...SYNC_TYPES, 'Cert expires'],
      status.proxies.map((row) =>
        h(
          'tr',
          { 'data-workload': row.workload },
          h('td', {}, row.workload),
          h('td', {}, row.service ?? '-'),
          h('td', {}, row.replica),
          h('td', { title: isoDate(row.connectedAt) }, relative(row.connectedAt)),
          SYNC_TYPES.map((type) => {
            const state = row.sync[type] ?? 'NOT SENT';
            return h('td', { 'data-type': type }, badge(state, `sync-${state.toLowerCase().replace(' ', '-')}`));
          }),
          h('td', { title: row.certificate ? isoDate(row.certificate.notAfter) : undefined }, row.certificate ? relative(row.certificate.notAfter) : '-'),
        ),
      ),
      'No proxy is connected.',
    ),
  ];
}

export function graphView(services: readonly ServiceRow[], descriptions: readonly Description[], truncated: boolean): Child[] {
  const byTarget = new Map(descriptions.map((d) => [keyOf(d.service), { target: d.service, callers: d.callers }]));
  const edges = edgesOf(byTarget);
  return [
    h(
      'p',
      { class: 'legend' },
      badge('ALLOWED', 'access-allowed'),
      ' ',
      badge('PARTIAL', 'access-partial'),
      ' (some paths or methods) ',
      badge('DENIED', 'access-denied'),
      ' — arrows point from caller to target; pairs no policy names are allowed by default and not drawn.',
    ),
    truncated ? h('p', { class: 'warning' }, `Showing the first ${services.length} services only.`) : null,
    h('div', { class: 'graph' }, graphSvg(services, edges)),
    edgeTable(edges),
  ];
}

export function certificatesView(ca: CaStatus, status: ProxyStatus, descriptions: readonly Description[]): Child[] {
  const leaves = new Map<string, { workload: string; spiffeId: string; serial: string; notAfter: string }>();
  for (const d of descriptions) {
    for (const w of d.workloads) if (w.certificate) leaves.set(w.id, { workload: w.id, spiffeId: w.spiffeId, ...w.certificate });
  }
  for (const row of status.proxies) {
    if (row.certificate && !leaves.has(row.workload)) leaves.set(row.workload, { workload: row.workload, spiffeId: '-', ...row.certificate });
  }
  const sorted = [...leaves.values()].sort((a, b) => Date.parse(a.notAfter) - Date.parse(b.notAfter));
  return [
    h('h3', {}, `CA (trust domain ${ca.trustDomain}) `, badge(ca.severity, `severity-${ca.severity.toLowerCase()}`)),
    table(
      'ca-certs',
      ['Certificate', 'Subject', 'Not after', 'Expires', 'Severity'],
      ca.certs.map((cert) =>
        h('tr', {}, h('td', {}, cert.cert), h('td', {}, cert.subject), h('td', {}, isoDate(cert.notAfter)), h('td', {}, relative(cert.notAfter)), h('td', {}, badge(cert.severity, `severity-${cert.severity.toLowerCase()}`))),
      ),
      'No CA certificate.',
    ),
    h('h3', {}, 'Workload certificates'),
    table(
      'leaf-certs',
      ['Workload', 'SPIFFE ID', 'Serial', 'Not after', 'Expires'],
      sorted.map((leaf) =>
        h('tr', { 'data-workload': leaf.workload }, h('td', {}, leaf.workload), h('td', {}, leaf.spiffeId), h('td', { class: 'mono' }, leaf.serial), h('td', {}, isoDate(leaf.notAfter)), h('td', {}, relative(leaf.notAfter))),
      ),
      'No workload holds a certificate a replica issued.',
    ),
  ];
}

export function rotationView(rotation: RootRotation): Child[] {
  const waiting = rotation.waitingFor ?? [];
  const fenced = rotation.fenced ?? [];
  return [
    h(
      'dl',
      { id: 'rotation' },
      h('dt', {}, 'Phase'),
      h('dd', { id: 'rotation-phase' }, badge(rotation.phase, 'phase')),
      rotation.since ? [h('dt', {}, 'Since'), h('dd', {}, `${isoDate(rotation.since)} (${relative(rotation.since)})`)] : null,
      rotation.abortedFrom ? [h('dt', {}, 'Aborted from'), h('dd', {}, rotation.abortedFrom)] : null,
      rotation.reason ? [h('dt', {}, 'Gate'), h('dd', {}, rotation.reason)] : null,
      h('dt', {}, 'Waiting for'),
      h('dd', {}, waiting.length === 0 ? 'nobody' : h('ul', { class: 'gates' }, waiting.map((who) => h('li', {}, who)))),
      fenced.length > 0 ? [h('dt', {}, 'Fenced'), h('dd', {}, fenced.join(', '))] : null,
    ),
  ];
}

/** NACKs in force across every proxy (newest first) and the policy changes the server refused. */
export function problemsView(status: ProxyStatus, server: ServerStatus): Child[] {
  const nacks = status.proxies
    .flatMap((row) => row.nacks.map((nack) => ({ workload: row.workload, ...nack })))
    .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))
    .slice(0, 50);
  const policy = (server.checks.policies?.detail ?? {}) as { errors?: unknown; warnings?: unknown; rejectedChanges?: unknown; lastChangeOk?: unknown };
  const lines = (value: unknown): string[] => (Array.isArray(value) ? value.map((item) => (typeof item === 'string' ? item : JSON.stringify(item))) : []);
  const errors = lines(policy.errors);
  const warnings = lines(policy.warnings);
  return [
    h('h3', {}, 'Recent NACKs'),
    table(
      'nacks',
      ['Workload', 'Type', 'When', 'Reason'],
      nacks.map((nack) => h('tr', { 'data-workload': nack.workload }, h('td', {}, nack.workload), h('td', {}, nack.type), h('td', { title: isoDate(nack.at) }, relative(nack.at)), h('td', { class: 'reason' }, nack.errorDetail))),
      'No proxy has a NACK in force.',
    ),
    h('h3', {}, 'Policy errors'),
    h('p', {}, `Rejected policy changes since start: ${typeof policy.rejectedChanges === 'number' ? policy.rejectedChanges : 0}. Last change ${policy.lastChangeOk === false ? 'failed' : 'was accepted'}.`),
    errors.length === 0 ? h('p', { class: 'muted', id: 'policy-errors-empty' }, 'No policy error.') : h('ul', { id: 'policy-errors', class: 'errors' }, errors.map((line) => h('li', {}, line))),
    warnings.length === 0 ? null : h('ul', { id: 'policy-warnings', class: 'warnings' }, warnings.map((line) => h('li', {}, line))),
  ];
}
