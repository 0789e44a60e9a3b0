/**
 * The dashboard's entry: a login form that keeps the operator (or read-only) token in
 * sessionStorage, then every 2 s one round of reads, each authenticated with the token as a
 * Bearer header (never in a URL), rendered section by section.
 */
import { Api, ApiFailure } from './api.js';
import { show } from './dom.js';
import { isoDate } from './format.js';
import {
  certificatesView,
  graphView,
  problemsView,
  proxiesView,
  rotationView,
  servicesView,
  type CaStatus,
  type Description,
  type ProxyStatus,
  type ServerStatus,
  type ServiceRow,
  type WorkloadRow,
} from './views.js';

const TOKEN_KEY = 'accord.operatorToken';
const POLL_MS = 2000;
/** Each round describes at most this many services (one request each) for the graph. */
const GRAPH_SERVICE_LIMIT = 40;

const byId = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from index.html`);
  return element as T;
};

interface Round {
  services: ServiceRow[];
  workloads: WorkloadRow[];
  proxies: ProxyStatus;
  ca: CaStatus;
  server: ServerStatus;
  descriptions: Description[];
  graphTruncated: boolean;
}

async function readRound(api: Api): Promise<Round> {
  const [services, workloads, proxies, ca, server] = await Promise.all([
    api.get<{ services: ServiceRow[] }>('/v1/services'),
    api.get<{ workloads: WorkloadRow[] }>('/v1/workloads'),
    api.get<ProxyStatus>('/v1/proxy-status'),
    api.get<CaStatus>('/v1/ca'),
    api.get<ServerStatus>('/v1/status'),
  ]);
  const sorted = [...services.services].sort((a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  const graphed = sorted.slice(0, GRAPH_SERVICE_LIMIT);
  const descriptions = await Promise.all(
    graphed.map((service) =>
      api.get<Description>(`/v1/describe/${encodeURIComponent(service.name)}?namespace=${encodeURIComponent(service.namespace)}`).catch((error: unknown) => {
        // A service that went away between the two reads: left out of this round.
        if (error instanceof ApiFailure && error.status === 404) return undefined;
        throw error;
      }),
    ),
  );
  return {
    services: sorted,
    workloads: [...workloads.workloads].sort((a, b) => a.id.localeCompare(b.id)),
    proxies,
    ca,
    server,
    descriptions: descriptions.filter((d): d is Description => d !== undefined),
    graphTruncated: sorted.length > graphed.length,
  };
}

function render(round: Round): void {
  const graphed = round.services.slice(0, GRAPH_SERVICE_LIMIT);
  show(byId('services-view'), servicesView(round.services, round.workloads));
  show(byId('proxies-view'), proxiesView(round.proxies));
  show(byId('graph-view'), graphView(graphed, round.descriptions, round.graphTruncated));
  show(byId('certificates-view'), certificatesView(round.ca, round.proxies, round.descriptions));
  show(byId('rotation-view'), rotationView(round.ca.rootRotation));
  show(byId('problems-view'), problemsView(round.proxies, round.server));
  show(byId('updated'), `Updated ${isoDate(Date.now())} · ${round.server.ready ? 'ready' : 'not ready'}`);
}

class Dashboard {
  private timer: number | undefined;
  private generation = 0;

  start(): void {
    byId<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = byId<HTMLInputElement>('token');
      const token = input.value.trim();
      input.value = '';
      if (token) void this.login(token, true);
    });
    byId('logout').addEventListener('click', () => this.logout(''));
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) void this.login(saved, false);
    else this.showLogin('');
  }

  private showLogin(message: string): void {
    byId('dashboard').hidden = true;
    byId('login').hidden = false;
    show(byId('login-error'), message);
    byId('login-error').hidden = message === '';
    byId<HTMLInputElement>('token').focus();
  }

  private async login(token: string, typed: boolean): Promise<void> {
    const api = new Api(token);
    try {
      // The cheapest read every operator credential may make: it tells a wrong token from a right one.
      await api.get<ServerStatus>('/v1/status');
    } catch (error) {
      sessionStorage.removeItem(TOKEN_KEY);
      const refused = error instanceof ApiFailure && (error.status === 401 || error.status === 403);
      this.showLogin(refused ? `Token not accepted (${error.message}).` : `Cannot reach the control plane: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (typed) sessionStorage.setItem(TOKEN_KEY, token);
    byId('login').hidden = true;
    byId('dashboard').hidden = false;
    const generation = ++this.generation;
    void this.poll(api, generation);
  }

  private logout(message: string): void {
    this.generation++;
    if (this.timer !== undefined) window.clearTimeout(this.timer);
    sessionStorage.removeItem(TOKEN_KEY);
    this.showLogin(message);
  }

  /** One round, then the next 2 s after it ends (rounds never overlap). */
  private async poll(api: Api, generation: number): Promise<void> {
    if (generation !== this.generation) return;
    try {
      const round = await readRound(api);
      if (generation !== this.generation) return;
      render(round);
      byId('fetch-error').hidden = true;
    } catch (error) {
      if (generation !== this.generation) return;
      if (error instanceof ApiFailure && (error.status === 401 || error.status === 403)) {
        this.logout(`The server no longer accepts this token (${error.message}); sign in again.`);
        return;
      }
      const banner = byId('fetch-error');
      show(banner, `Last update failed: ${error instanceof Error ? error.message : String(error)}. Retrying.`);
      banner.hidden = false;
    }
    this.timer = window.setTimeout(() => void this.poll(api, generation), POLL_MS);
  }
}

new Dashboard().start();
