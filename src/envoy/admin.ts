/**
 * A typed client for the parts of Envoy's admin API that tell what Envoy has accepted and is
 * doing: readiness, config_dump, listeners, clusters, stats and certificates. Shapes follow
 * envoy/admin/v3/*.proto in proto-JSON form; only the fields we read are typed.
 */

export interface ReadyState {
  /** `/ready` answered 200 LIVE. */
  readonly live: boolean;
  /** LIVE, PRE_INITIALIZING, INITIALIZING or DRAINING. */
  readonly state: string;
}

/** One entry of `/config_dump` `configs[]`, keyed by its `@type`. */
export type ConfigDumpSection = Record<string, unknown> & { readonly '@type': string };

export interface ConfigDump {
  readonly configs: readonly ConfigDumpSection[];
}

export interface ListenerStatus {
  readonly name: string;
  readonly local_address?: { readonly socket_address?: { readonly address: string; readonly port_value: number } };
}

export interface HostStatus {
  readonly address: { readonly socket_address?: { readonly address: string; readonly port_value: number } };
  readonly health_status: Record<string, unknown> & { readonly eds_health_status?: string };
  readonly weight?: number;
  readonly priority?: number;
  readonly locality?: Record<string, string>;
}

export interface ClusterStatus {
  readonly name: string;
  readonly added_via_api?: boolean;
  readonly host_statuses?: readonly HostStatus[];
}

export interface SubjectAltName {
  readonly uri?: string;
  readonly dns?: string;
  readonly ip_address?: string;
}

export interface CertificateDetails {
  readonly path: string;
  readonly serial_number: string;
  readonly subject_alt_names?: readonly SubjectAltName[];
  readonly days_until_expiration?: string | number;
  readonly valid_from?: string;
  readonly expiration_time?: string;
}

export interface CertificateInfo {
  readonly ca_cert?: readonly CertificateDetails[];
  readonly cert_chain?: readonly CertificateDetails[];
}

const TIMEOUT_MS = 15_000;

export class EnvoyAdmin {
  constructor(readonly baseUrl: string) {}

  private async get(pathAndQuery: string): Promise<Response> {
    return fetch(`${this.baseUrl}${pathAndQuery}`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
  }

  private async json<T>(pathAndQuery: string): Promise<T> {
    const response = await this.get(pathAndQuery);
    const text = await response.text();
    if (!response.ok) throw new Error(`Envoy admin ${pathAndQuery}: HTTP ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  async ready(): Promise<ReadyState> {
    const response = await this.get('/ready');
    const state = (await response.text()).trim();
    return { live: response.status === 200 && state === 'LIVE', state };
  }

  /** `/config_dump`; `includeEds` adds the endpoint configs, `resource` narrows to one field (e.g. `dynamic_active_clusters`). */
  async configDump(options: { includeEds?: boolean; resource?: string } = {}): Promise<ConfigDump> {
    const params: string[] = [];
    if (options.includeEds) params.push('include_eds');
    if (options.resource) params.push(`resource=${encodeURIComponent(options.resource)}`);
    return this.json<ConfigDump>(`/config_dump${params.length > 0 ? `?${params.join('&')}` : ''}`);
  }

  async listeners(): Promise<readonly ListenerStatus[]> {
    return (await this.json<{ listener_statuses?: ListenerStatus[] }>('/listeners?format=json')).listener_statuses ?? [];
  }

  async clusters(): Promise<readonly ClusterStatus[]> {
    return (await this.json<{ cluster_statuses?: ClusterStatus[] }>('/clusters?format=json')).cluster_statuses ?? [];
  }

  /** Counters and gauges (histograms left out) whose names match the RE2 `filter`, zeros included. */
  async stats(filter?: string): Promise<Map<string, number>> {
    const query = filter === undefined ? '' : `&filter=${encodeURIComponent(filter)}`;
    const body = await this.json<{ stats?: { name?: string; value?: number | string }[] }>(`/stats?format=json${query}`);
    const stats = new Map<string, number>();
    for (const stat of body.stats ?? []) {
      if (typeof stat.name === 'string' && stat.value !== undefined) stats.set(stat.name, Number(stat.value));
    }
    return stats;
  }

  async certs(): Promise<readonly CertificateInfo[]> {
    return (await this.json<{ certificates?: CertificateInfo[] }>('/certs')).certificates ?? [];
  }

  async serverInfo(): Promise<{ version: string; state: string }> {
    return this.json<{ version: string; state: string }>('/server_info');
  }

  /** `POST /quitquitquit`: a clean exit. */
  async quit(): Promise<void> {
    await fetch(`${this.baseUrl}/quitquitquit`, { method: 'POST', signal: AbortSignal.timeout(TIMEOUT_MS) });
  }
}
