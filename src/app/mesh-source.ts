import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { clip } from '../observability/clip.js';
import type { Workload } from '../core/workload.js';
import type { Flavour } from '../mesh/index.js';
import type { TimerHandle, Clock } from '../core/clock.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from '../identity/secret-names.js';
import type { ProxySecrets, SecretLifecycles } from '../identity/secret-lifecycle.js';
import type { VerifiedWorkload } from '../identity/workload-access.js';
import {
  StreamRefusedError,
  TypeUrl,
  type ConfigSource,
  type EndStream,
  type EncodedResource,
  type ProxyView,
  type StreamContext,
} from '../xds/contract.js';

/**
 * The glue between the mesh and the transport. For every connected proxy it keeps one generation
 * of encoded resources, recomputed only when that proxy's translation inputs change; it binds each
 * stream to the workload its token names, hands its secrets to the identity module's per-proxy
 * lifecycle, and renews its lease while a stream is connected.
 */

/** The part of the mesh state the source reads; replaced wholesale on every change. */
export interface MeshState {
  readonly revision: number;
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly allowAnonymousConfig: boolean;
}

/** Translation of one proxy's config, already encoded. */
export interface ProxyGenerator {
  /** A key that changes whenever anything that affects this proxy's resources changes. */
  inputKey(workloadId: string, flavour: Flavour): string;
  /** Type URL → name → encoded resource; identical inputs give identical objects. */
  generate(workloadId: string, flavour: Flavour): ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;
  flavourOf(userAgentName: string): Flavour;
}

/** Who a stream's token names, and whether it may still be served (src/identity/workload-access.ts). */
export interface StreamAccessCheck {
  /**
   * Verifies a workload token, its deny-list entries and its workload's revocation; throws with a
   * reason on failure (an error with code `REVOKED` for a revoked workload).
   */
  verifyToken(token: string, now: number): Promise<VerifiedWorkload>;
  /** Why a stream opened with these claims may no longer be served (revoked, token denied), or undefined. */
  streamDenial(claims: VerifiedWorkload): string | undefined;
}

export interface LeaseRenewer {
  renew(workloadId: string): Promise<void>;
}

export interface MeshSourceDeps {
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly generator: ProxyGenerator;
  readonly access: StreamAccessCheck;
  /** Each proxy's SDS secrets (src/identity/secret-lifecycle.ts). */
  readonly secrets: SecretLifecycles;
  readonly leases: LeaseRenewer;
  readonly clock: Clock;
  readonly state: () => MeshState;
}

function bearerToken(context: StreamContext): string | undefined {
  const value = context.metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  return /^Bearer\s+(\S+)\s*$/i.exec(value)?.[1];
}

type ChangeListener = (typeUrls: ReadonlySet<string>) => void;

const CONFIG_TYPES: readonly string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration];
/** Secrets the translation itself yields: a gateway's user certificates, naming files on its host (no key material). */
const GENERATED_SECRETS = TypeUrl.Secret;

/** One stream's authentication, re-checked whenever revocations or the token deny-list change. */
interface StreamAccess {
  readonly claims: VerifiedWorkload | undefined;
  /** Set once the stream's workload is revoked or its token denied: it is served nothing more. */
  denied?: string;
  /** Ends the stream (given by the transport once it watches the view). */
  end?: EndStream;
}

/** Ends a stream whose access was withdrawn: PERMISSION_DENIED, so the proxy knows why it is served nothing. */
function endDenied(access: StreamAccess): void {
  if (access.denied !== undefined) access.end?.('PERMISSION_DENIED', `stream no longer authorized: ${access.denied}`);
}

/** One proxy identity (workload + flavour) and everything shared by its streams. */
class ProxyEntry {
  inputKey: string | undefined;
  config: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>> | undefined;
  readonly secrets: ProxySecrets;
  leaseTimer: TimerHandle | undefined;
  readonly listeners = new Set<ChangeListener>();
  streams = 0;
  /** Streams that may read secrets (authenticated, not anonymous). */
  authenticatedStreams = 0;
  readonly access = new Set<StreamAccess>();

  /** Streams still served (not denied since they opened). */
  get servedStreams(): number {
    let denied = 0;
    for (const access of this.access) if (access.denied !== undefined) denied += 1;
    return this.streams - denied;
  }

  constructor(
    readonly key: string,
    readonly workloadId: string,
    readonly flavour: Flavour,
    secrets: SecretLifecycles,
  ) {
    this.secrets = secrets.open(workloadId, {
      streams: () => ({ authenticated: this.authenticatedStreams, served: this.servedStreams }),
      notify: () => this.notify(new Set([TypeUrl.Secret])),
    });
  }

  notify(typeUrls: ReadonlySet<string>): void {
    if (typeUrls.size === 0) return;
    for (const listener of [...this.listeners]) listener(typeUrls);
  }
}

export class MeshConfigSource implements ConfigSource {
  private readonly entries = new Map<string, ProxyEntry>();
  private readonly log: Logger;
  private readonly denials: Counter<'reason'>;
  private readonly connected: Gauge;

  constructor(private readonly deps: MeshSourceDeps) {
    this.log = deps.logger.child({ component: 'mesh-source' });
    this.denials = new Counter({
      name: 'accord_stream_auth_denied_total',
      help: 'xDS streams refused at authentication, by reason',
      labelNames: ['reason'],
      registers: [deps.metrics],
    });
    this.connected = new Gauge({
      name: 'accord_connected_proxies',
      help: 'distinct proxies (workload and flavour) with at least one open xDS stream',
      registers: [deps.metrics],
    });
  }

  async open(context: StreamContext): Promise<ProxyView> {
    const now = this.deps.clock.now();
    const token = bearerToken(context);
    const nodeId = context.node.id;
    let authenticated = false;
    let claims: VerifiedWorkload | undefined;
    if (token !== undefined) {
      try {
        claims = await this.deps.access.verifyToken(token, now);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        const revoked = (error as { code?: unknown }).code === 'REVOKED';
        this.deny(revoked ? 'revoked' : 'bad_token', nodeId, context.peer, reason);
        throw new StreamRefusedError(revoked ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED', `workload token rejected: ${reason}`);
      }
      if (claims.workloadId !== nodeId) {
        const reason = `node.id "${clip(nodeId)}" does not match the token's workload "${claims.workloadId}"`;
        this.deny('node_mismatch', nodeId, context.peer, reason);
        throw new StreamRefusedError('PERMISSION_DENIED', reason);
      }
      authenticated = true;
    } else if (!this.deps.state().allowAnonymousConfig) {
      const reason = 'no workload token ("authorization: Bearer <token>" metadata) and anonymous access is disabled';
      this.deny('no_token', nodeId, context.peer, reason);
      throw new StreamRefusedError('UNAUTHENTICATED', reason);
    }

    const flavour = this.deps.generator.flavourOf(context.node.userAgentName);
    const entry = this.entry(nodeId, flavour);
    const access: StreamAccess = { claims };
    entry.streams += 1;
    entry.access.add(access);
    if (authenticated) entry.authenticatedStreams += 1;
    this.connected.set(this.entries.size);
    if (entry.servedStreams === 1 && !entry.leaseTimer) this.startLeaseRenewal(entry);
    return this.view(entry, authenticated, access);
  }

  /** Re-translate every connected proxy whose inputs changed; called after each mesh-state change. */
  refresh(): void {
    for (const entry of this.entries.values()) {
      this.recheckAccess(entry);
      if (entry.servedStreams === 0) continue;
      this.regenerate(entry);
      // A proxy may connect, and ask for its certificate, before this replica has seen its registration.
      entry.secrets.refresh();
      if (!entry.leaseTimer) this.startLeaseRenewal(entry);
    }
  }

  /**
   * Streams whose workload was revoked, or whose token was denied (deregistration denies them all),
   * since they opened are served nothing more: no config, no secrets, no lease renewal.
   */
  private recheckAccess(entry: ProxyEntry): void {
    const ended: StreamAccess[] = [];
    for (const access of entry.access) {
      if (access.denied !== undefined || !access.claims) continue;
      const reason = this.deps.access.streamDenial(access.claims);
      if (reason === undefined) continue;
      access.denied = reason;
      ended.push(access);
      this.deny('revoked_while_open', entry.workloadId, '', reason);
    }
    if (entry.streams > 0 && entry.servedStreams === 0) this.release(entry);
    // Ending a stream closes its view, which changes entry.access: only after the loop.
    for (const access of ended) endDenied(access);
  }

  close(): void {
    for (const entry of this.entries.values()) this.release(entry);
    this.entries.clear();
  }

  private deny(reason: string, nodeId: string, peer: string, detail: string): void {
    this.denials.inc({ reason });
    this.log.warn({ nodeId: clip(nodeId), peer, reason, detail: clip(detail, 512) }, 'xDS stream refused');
  }

  private entry(workloadId: string, flavour: Flavour): ProxyEntry {
    const key = `${workloadId}|${flavour}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = new ProxyEntry(key, workloadId, flavour, this.deps.secrets);
      this.entries.set(key, entry);
      this.regenerate(entry);
    }
    return entry;
  }

  private regenerate(entry: ProxyEntry): void {
    const state = this.deps.state();
    if (!state.workloads.has(entry.workloadId)) {
      // Not registered (yet, or any more): hold the last generation; never send empty LDS/CDS.
      return;
    }
    const key = this.deps.generator.inputKey(entry.workloadId, entry.flavour);
    if (key === entry.inputKey) return;
    let next: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;
    try {
      next = this.deps.generator.generate(entry.workloadId, entry.flavour);
    } catch (error) {
      this.log.error({ err: error, workloadId: entry.workloadId }, 'translation failed; keeping the previous configuration');
      return;
    }
    const changed = new Set<string>();
    for (const typeUrl of [...CONFIG_TYPES, GENERATED_SECRETS]) {
      if (!sameResources(entry.config?.get(typeUrl), next.get(typeUrl))) changed.add(typeUrl);
    }
    entry.inputKey = key;
    entry.config = next;
    entry.notify(changed);
  }

  private view(entry: ProxyEntry, authenticated: boolean, access: StreamAccess): ProxyView {
    let listener: ChangeListener | undefined;
    let closed = false;
    return {
      resources: (typeUrl) => {
        // Denied since it opened: nothing more is sent while the stream is being ended.
        if (access.denied !== undefined) return undefined;
        if (typeUrl === TypeUrl.Secret) {
          if (!authenticated) return new Map();
          const secrets = new Map<string, EncodedResource>();
          for (const [name, generated] of entry.config?.get(GENERATED_SECRETS) ?? []) secrets.set(name, generated);
          for (const [name, secret] of entry.secrets.resources()) secrets.set(name, secret);
          return secrets;
        }
        return entry.config?.get(typeUrl) ?? (entry.config ? new Map() : undefined);
      },
      authorize: (typeUrl, name) => {
        if (access.denied !== undefined) return access.denied;
        if (typeUrl !== TypeUrl.Secret) return undefined;
        if (!authenticated) return 'anonymous streams receive no secrets';
        if (name === DEFAULT_SECRET || name === ROOTCA_SECRET) return undefined;
        if (entry.config?.get(GENERATED_SECRETS)?.has(name) === true) return undefined;
        return `secret "${name}" does not belong to workload "${entry.workloadId}" (only "${DEFAULT_SECRET}", "${ROOTCA_SECRET}" and its Gateway's certificates may be read)`;
      },
      interest: (typeUrl, names) => {
        if (access.denied !== undefined) return;
        if (typeUrl === TypeUrl.Secret && authenticated && names.has(DEFAULT_SECRET)) {
          entry.secrets.request();
        }
      },
      acked: (typeUrl, resources) => {
        if (typeUrl !== TypeUrl.Secret) return;
        for (const [name, version] of resources) entry.secrets.acked(name, version);
      },
      nacked: (typeUrl, errorDetail) => {
        if (typeUrl === TypeUrl.Secret) {
          this.log.error({ workloadId: clip(entry.workloadId), errorDetail: clip(errorDetail, 1024) }, 'proxy rejected its secret; it keeps the previous certificate');
        }
      },
      watch: (onChange, end) => {
        access.end = end;
        // Denied between open() and now: end it once the transport is done setting it up.
        if (access.denied !== undefined) queueMicrotask(() => endDenied(access));
        listener = onChange;
        entry.listeners.add(onChange);
        return () => {
          entry.listeners.delete(onChange);
        };
      },
      close: () => {
        if (closed) return;
        closed = true;
        if (listener) entry.listeners.delete(listener);
        entry.access.delete(access);
        entry.streams -= 1;
        if (authenticated) entry.authenticatedStreams -= 1;
        if (entry.streams === 0) {
          this.release(entry);
          this.entries.delete(entry.key);
          entry.secrets.close();
          this.connected.set(this.entries.size);
        }
      },
    };
  }

  private startLeaseRenewal(entry: ProxyEntry): void {
    const workload = this.deps.state().workloads.get(entry.workloadId);
    const leaseMs = workload?.leaseMs;
    if (!leaseMs) return;
    const tick = (): void => {
      this.deps.leases.renew(entry.workloadId).catch((error: unknown) => {
        this.log.warn({ err: error, workloadId: entry.workloadId }, 'lease renewal failed; will retry');
      });
      entry.leaseTimer = this.deps.clock.setTimeout(tick, Math.max(250, Math.floor(leaseMs / 3)));
    };
    tick();
  }

  private cancel(timer: TimerHandle | undefined): void {
    if (timer !== undefined) this.deps.clock.clearTimeout(timer);
  }

  private release(entry: ProxyEntry): void {
    entry.secrets.release();
    this.cancel(entry.leaseTimer);
    entry.leaseTimer = undefined;
  }
}

function sameResources(
  a: ReadonlyMap<string, EncodedResource> | undefined,
  b: ReadonlyMap<string, EncodedResource> | undefined,
): boolean {
  if (a === b) return true;
  if (!a || !b || a.size !== b.size) return false;
  for (const [name, resource] of a) {
    if (b.get(name)?.version !== resource.version) return false;
  }
  return true;
}
