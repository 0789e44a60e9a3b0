import type { Registry } from 'prom-client';
import { Gauge } from 'prom-client';
import type { Logger } from '../observability/logger.js';
import { clip } from '../observability/clip.js';
import { drainSlice } from '../core/time-slices.js';
import type { PolicySet } from '../core/policy.js';
import type { Workload } from '../core/workload.js';
import type { Flavour } from '../mesh/index.js';
import { DEFAULT_SECRET, ROOTCA_SECRET } from '../identity/secret-names.js';
import type { ProxySecrets, SecretLifecycles } from '../identity/secret-lifecycle.js';
import type { VerifiedWorkload } from '../identity/workload-access.js';
import {
  TypeUrl,
  type ConfigSource,
  type EndStream,
  type EncodedResource,
  type ProxyView,
  type StreamContext,
} from '../xds/contract.js';

/**
 * The glue between the mesh and the transport. For every connected proxy it keeps one generation
 * of encoded resources, recomputed only when that proxy's translation inputs change. Streams are
 * authenticated as they open (stream-authentication.ts); the proxy's secrets are the identity
 * module's per-proxy lifecycle (src/identity/secret-lifecycle.ts); listeners hear when a proxy is
 * served and idle (stream-lease-renewal.ts).
 */

/** The mesh state the source reads; replaced wholesale on every change. */
export interface MeshState {
  readonly revision: number;
  readonly workloads: ReadonlyMap<string, Workload>;
  readonly policies: PolicySet;
}

/** One proxy's encoded config and the key it was generated for. */
export interface GeneratedConfig {
  /** Changes whenever anything that affects this proxy's resources changes. */
  readonly key: string;
  /** Type URL → name → encoded resource; identical inputs give identical objects. */
  readonly config: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;
}

/** Translation of one proxy's config, already encoded. */
export interface ProxyGenerator {
  /** The proxy's config, or undefined when its key is still `currentKey` (nothing it reads changed). */
  generate(workloadId: string, flavour: Flavour, currentKey: string | undefined): GeneratedConfig | undefined;
  flavourOf(userAgentName: string): Flavour;
  /** Workloads whose proxies' config may differ between two states; `all` when any may. */
  affectedSince(before: MeshState, after: MeshState): ReadonlySet<string> | 'all';
}

/** Told when a proxy (workload + flavour) has a served stream, and when it has none any more. */
export interface StreamListener {
  served(proxyKey: string, workloadId: string): void;
  idle(proxyKey: string): void;
}

/** Authenticates a stream as it opens, and re-checks it while open (src/app/stream-authentication.ts). */
export interface StreamAuthenticator {
  /** The stream's verified workload, undefined for an anonymous one; throws StreamRefusedError. */
  authenticate(context: StreamContext): Promise<VerifiedWorkload | undefined>;
  /** Why an open stream may no longer be served, or undefined. */
  recheck(workloadId: string, claims: VerifiedWorkload): string | undefined;
}

export interface MeshSourceDeps {
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly generator: ProxyGenerator;
  readonly authentication: StreamAuthenticator;
  /** Told of each proxy's served streams (lease renewal). */
  readonly listeners: readonly StreamListener[];
  /** Each proxy's SDS secrets (src/identity/secret-lifecycle.ts). */
  readonly secrets: SecretLifecycles;
  readonly state: () => MeshState;
}

type ChangeListener = (typeUrls: ReadonlySet<string>) => void;

/** Secrets the translation itself yields: a gateway's user certificates, naming files on its host (no key material). */
const GENERATED_SECRETS = TypeUrl.Secret;
const SECRETS_CHANGED: ReadonlySet<string> = new Set([TypeUrl.Secret]);
/** What a regeneration compares, each type with its bit in a `ChangedTypes` mask. */
const GENERATED_TYPES: readonly string[] = [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration, GENERATED_SECRETS];

/**
 * The set of changed types a regeneration tells a proxy's streams, one shared set per combination:
 * a change reaching 10,000 proxies tells them all the same few, without a set made for each.
 */
class ChangedTypes {
  private readonly byMask = new Map<number, ReadonlySet<string>>();

  of(mask: number): ReadonlySet<string> {
    let types = this.byMask.get(mask);
    if (!types) {
      types = new Set(GENERATED_TYPES.filter((_, bit) => (mask & (1 << bit)) !== 0));
      this.byMask.set(mask, types);
    }
    return types;
  }
}

/** One stream's authentication, re-checked whenever revocations or the token deny-list change. */
interface StreamAccess {
  readonly claims: VerifiedWorkload | undefined;
  /** Set once the stream's workload is revoked or its token denied: it is served nothing more. */
  denied?: string;
  /** Ends the stream (given by the transport once it watches the view). */
  end?: EndStream;
  /** The secret names it subscribes to: judged once its proxy's config is ready, if it was not when asked. */
  secretNames?: ReadonlySet<string>;
}

/** Ends a stream whose access was withdrawn: PERMISSION_DENIED, so the proxy knows why it is served nothing. */
function endDenied(access: StreamAccess): void {
  if (access.denied !== undefined) access.end?.('PERMISSION_DENIED', `stream no longer authorized: ${access.denied}`);
}

/** Why a proxy may not read a secret it asked for, or undefined if it may (its config must be ready). */
function secretRefusal(entry: ProxyEntry, name: string): string | undefined {
  if (name === DEFAULT_SECRET || name === ROOTCA_SECRET) return undefined;
  if (entry.config?.get(GENERATED_SECRETS)?.has(name) === true) return undefined;
  return `secret "${name}" does not belong to workload "${entry.workloadId}" (only "${DEFAULT_SECRET}", "${ROOTCA_SECRET}" and its Gateway's certificates may be read)`;
}

/** One proxy identity (workload + flavour) and everything shared by its streams. */
class ProxyEntry {
  inputKey: string | undefined;
  /** The registration the proxy was last refreshed with: a new one (re-registration) re-announces it. */
  workload: Workload | undefined;
  config: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>> | undefined;
  readonly secrets: ProxySecrets;
  /** Whether the stream listeners were told this proxy is served. */
  announced = false;
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
      notify: () => this.notify(SECRETS_CHANGED),
    });
  }

  notify(typeUrls: ReadonlySet<string>): void {
    if (typeUrls.size === 0) return;
    // A listener may end its stream, and leave the set, while being told: iterate a copy if there are several.
    if (this.listeners.size === 1) for (const listener of this.listeners) listener(typeUrls);
    else for (const listener of [...this.listeners]) listener(typeUrls);
  }
}

export class MeshConfigSource implements ConfigSource {
  private readonly entries = new Map<string, ProxyEntry>();
  /** The state of the last refresh: the next one visits only the proxies a change since then may touch. */
  private refreshed: MeshState | undefined;
  /** Proxies a refresh found affected and has not regenerated yet (it runs in slices). */
  private readonly stale = new Set<ProxyEntry>();
  private refreshScheduled = false;
  private readonly log: Logger;
  private readonly connected: Gauge;
  private readonly changedTypes = new ChangedTypes();

  constructor(private readonly deps: MeshSourceDeps) {
    this.log = deps.logger.child({ component: 'mesh-source' });
    this.connected = new Gauge({
      name: 'accord_connected_proxies',
      help: 'distinct proxies (workload and flavour) with at least one open xDS stream',
      registers: [deps.metrics],
    });
  }

  async open(context: StreamContext): Promise<ProxyView> {
    const claims = await this.deps.authentication.authenticate(context);
    const authenticated = claims !== undefined;
    const nodeId = context.node.id;

    const flavour = this.deps.generator.flavourOf(context.node.userAgentName);
    const entry = this.entry(nodeId, flavour);
    const access: StreamAccess = { claims };
    entry.streams += 1;
    entry.access.add(access);
    if (authenticated) entry.authenticatedStreams += 1;
    this.connected.set(this.entries.size);
    if (entry.servedStreams === 1) this.announce(entry);
    return this.view(entry, authenticated, access);
  }

  /**
   * Re-translates every connected proxy whose inputs changed; called after each mesh-state change.
   * A proxy whose key did not change costs a lookup (the translator keeps keys across snapshots).
   * Runs in slices: each regenerated proxy is told at once, so its streams' responses go out while
   * the rest of the fleet is still being regenerated (10,000 proxies take ≈ 0.3 s).
   */
  refresh(): void {
    const state = this.deps.state();
    const previous = this.refreshed;
    this.refreshed = state;
    const affected = previous === undefined ? 'all' : this.deps.generator.affectedSince(previous, state);
    if (affected === 'all') {
      for (const entry of this.entries.values()) this.stale.add(entry);
    } else {
      for (const workloadId of affected) {
        for (const flavour of FLAVOURS) {
          const entry = this.entries.get(entryKey(workloadId, flavour));
          if (entry) this.stale.add(entry);
        }
      }
    }
    this.refreshStale();
  }

  /** Regenerates stale proxies for one slice (from the newest state); the rest continue in the next check phase. */
  private refreshStale(): void {
    const left = drainSlice(this.stale, (entry) => this.refreshEntry(entry));
    if (!left || this.refreshScheduled) return;
    this.refreshScheduled = true;
    setImmediate(() => {
      this.refreshScheduled = false;
      this.refreshStale();
    });
  }

  /** Regenerates the proxy from the newest state; a new registration of its workload re-announces it. */
  private refreshEntry(entry: ProxyEntry): void {
    if (entry.servedStreams === 0) return;
    const workload = this.deps.state().workloads.get(entry.workloadId);
    this.regenerate(entry, workload);
    if (workload === entry.workload) return;
    entry.workload = workload;
    // A proxy may connect, and ask for its certificate, before this replica has seen its registration.
    entry.secrets.refresh();
    this.announce(entry);
  }

  /**
   * Re-checks every open stream's access and nothing else: a change of the token deny-list changes
   * who may be served, not what any proxy is sent, so it re-translates nothing.
   */
  recheckAllAccess(): void {
    for (const entry of this.entries.values()) this.recheckAccess(entry);
  }

  /** `recheckAllAccess` for what a deny-list change names: a token id may be any stream's, a workload only its own. */
  recheckDenied(change: { readonly workloads: readonly string[]; readonly tokens: readonly string[] }): void {
    if (change.tokens.length > 0) {
      this.recheckAllAccess();
      return;
    }
    for (const workloadId of change.workloads) {
      for (const flavour of FLAVOURS) {
        const entry = this.entries.get(entryKey(workloadId, flavour));
        if (entry) this.recheckAccess(entry);
      }
    }
  }

  /**
   * Streams whose workload was revoked, or whose token was denied (deregistration denies them all),
   * since they opened are served nothing more: no config, no secrets, no lease renewal.
   */
  private recheckAccess(entry: ProxyEntry): void {
    this.withdraw(entry, (access) => (access.claims ? this.deps.authentication.recheck(entry.workloadId, access.claims) : undefined));
  }

  /** Ends, with PERMISSION_DENIED, every stream of the entry still served that `refusal` gives a reason for. */
  private withdraw(entry: ProxyEntry, refusal: (access: StreamAccess) => string | undefined): void {
    const ended: StreamAccess[] = [];
    for (const access of entry.access) {
      if (access.denied !== undefined) continue;
      const reason = refusal(access);
      if (reason === undefined) continue;
      access.denied = reason;
      ended.push(access);
    }
    if (entry.streams > 0 && entry.servedStreams === 0) this.release(entry);
    // Ending a stream closes its view, which changes entry.access: only after the loop.
    for (const access of ended) endDenied(access);
  }

  close(): void {
    this.stale.clear();
    for (const entry of this.entries.values()) this.release(entry);
    this.entries.clear();
  }

  private entry(workloadId: string, flavour: Flavour): ProxyEntry {
    const key = entryKey(workloadId, flavour);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = new ProxyEntry(key, workloadId, flavour, this.deps.secrets);
      entry.workload = this.deps.state().workloads.get(workloadId);
      this.entries.set(key, entry);
      this.regenerate(entry);
    }
    return entry;
  }

  private regenerate(entry: ProxyEntry, workload: Workload | undefined = this.deps.state().workloads.get(entry.workloadId)): void {
    if (workload === undefined) {
      // Not registered (yet, or any more): hold the last generation; never send empty LDS/CDS.
      return;
    }
    let generated: GeneratedConfig | undefined;
    try {
      generated = this.deps.generator.generate(entry.workloadId, entry.flavour, entry.inputKey);
    } catch (error) {
      this.log.error({ err: error, workloadId: entry.workloadId }, 'translation failed; keeping the previous configuration');
      return;
    }
    if (generated === undefined) return;
    const { key, config: next } = generated;
    let changed = 0;
    for (let bit = 0; bit < GENERATED_TYPES.length; bit++) {
      const typeUrl = GENERATED_TYPES[bit] as string;
      if (!sameResources(entry.config?.get(typeUrl), next.get(typeUrl))) changed |= 1 << bit;
    }
    const firstConfig = entry.config === undefined;
    entry.inputKey = key;
    entry.config = next;
    if (firstConfig) this.judgeSecretNames(entry);
    entry.notify(this.changedTypes.of(changed));
  }

  /** Streams that asked for secrets before their proxy's config was ready: refused now if a name is not theirs. */
  private judgeSecretNames(entry: ProxyEntry): void {
    this.withdraw(entry, (access) => {
      for (const name of access.secretNames ?? []) {
        const reason = secretRefusal(entry, name);
        if (reason === undefined) continue;
        this.log.warn({ workloadId: clip(entry.workloadId), reason }, 'stream refused: it asked for a secret that is not its own');
        return reason;
      }
      return undefined;
    });
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
          if (entry.secrets.issuingFirstLeaf) return undefined;
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
        // A proxy that connects before its registration reaches this replica: its Gateway's names
        // are judged once its config is ready (regenerate). Until then only its own secrets exist to be sent.
        if (entry.config === undefined) return undefined;
        return secretRefusal(entry, name);
      },
      interest: (typeUrl, names) => {
        if (access.denied !== undefined) return;
        if (typeUrl === TypeUrl.Secret && authenticated) access.secretNames = names;
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
        if (access.denied !== undefined) {
          // Denied between open() and now: end it once the transport is done setting it up.
          queueMicrotask(() => endDenied(access));
        } else if (authenticated && entry.flavour === 'envoy') {
          // A stream (a unary Fetch never watches) of an Envoy: every Envoy config names the
          // workload's `default` certificate (mTLS is always on); proxyless gRPC reads files instead.
          entry.secrets.prefetch();
        }
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

  /** Tells the listeners (lease renewal) the proxy is served; they may ignore a repeat. */
  private announce(entry: ProxyEntry): void {
    entry.announced = true;
    for (const listener of this.deps.listeners) listener.served(entry.key, entry.workloadId);
  }

  private release(entry: ProxyEntry): void {
    entry.secrets.release();
    if (!entry.announced) return;
    entry.announced = false;
    for (const listener of this.deps.listeners) listener.idle(entry.key);
  }
}

const FLAVOURS: readonly Flavour[] = ['envoy', 'grpc'];

function entryKey(workloadId: string, flavour: Flavour): string {
  return `${workloadId}|${flavour}`;
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
