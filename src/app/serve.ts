import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetricsRegistry, type Registry } from '../observability/metrics.js';
import { buildHttpApi } from '../api/http.js';
import { addRegistryService } from '../api/grpc-registry.js';
import { LeaseReaper, MemoryStore, RedisStore, RegistryMirror, createRegistryMetrics, realTimers, type Store } from '../registry/index.js';
import { PolicyWatcher, formatPolicyError, type PolicyError } from '../config/index.js';
import { MeshTranslator } from '../mesh/index.js';
import { ResourceEncoder, XdsServer, loadEnvoyProtos } from '../xds/index.js';
import type { ServeOptions } from './options.js';
import { MeshStateTracker } from './mesh-state.js';
import { MeshConfigSource } from './mesh-source.js';
import { EncodingProxyGenerator } from './proxy-generator.js';
import { RegistryService } from './registry-service.js';
import { PolicyService } from './policy-service.js';
import { DEFAULT_TRUST_DOMAIN, IdentityService } from './identity.js';
import { BootstrapService } from './bootstrap-service.js';
import { StartupError, assertPortFree, listenFailure } from './listen.js';

export interface AccordHandle {
  readonly xdsPort: number;
  readonly httpPort: number;
  readonly apiToken: string;
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly store: Store;
  readonly xds: XdsServer;
  readonly http: FastifyInstance;
  close(): Promise<void>;
}

export interface StartOverrides {
  /** Use this logger instead of creating one (tests capture logs this way). */
  readonly logger?: Logger;
}

async function operatorToken(options: ServeOptions, log: Logger): Promise<string> {
  if (options.apiToken) return options.apiToken;
  const file = path.join(options.dataDir, 'api-token');
  try {
    const existing = (await readFile(file, 'utf8')).trim();
    if (existing) {
      log.info({ file }, 'using the operator token kept in the data dir');
      return existing;
    }
  } catch {
    // not there yet
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  log.info({ file }, 'generated an operator token (set ACCORD_API_TOKEN to choose one); it is in this file');
  return token;
}

/** The composition root: constructs every long-lived object and wires them together. */
export async function startAccord(options: ServeOptions, overrides: StartOverrides = {}): Promise<AccordHandle> {
  const logger = overrides.logger ?? createLogger({ level: options.logLevel });
  const log = logger.child({ component: 'serve' });
  const metrics = createMetricsRegistry();
  // Taken ports fail the start at once, before anything else is set up.
  await assertPortFree(options.host, options.xdsPort, '--xds-port');
  await assertPortFree(options.host, options.httpPort, '--http-port');
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const apiToken = await operatorToken(options, log);

  const store: Store = options.redisUrl
    ? await RedisStore.connect({
        target: options.redisUrl,
        keyPrefix: `{${options.redisPrefix}}:`,
        logger: logger.child({ component: 'redis-store' }),
        metrics: createRegistryMetrics(metrics),
      })
    : new MemoryStore({ logger: logger.child({ component: 'memory-store' }) });

  const policyErrors = { count: 0, last: [] as readonly PolicyError[], warnings: [] as readonly PolicyError[] };
  const onPolicyErrors = (errors: readonly PolicyError[]): void => {
    policyErrors.count += 1;
    policyErrors.last = errors;
  };
  const meshState = new MeshStateTracker(logger, { trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN }, onPolicyErrors);
  const identity = await IdentityService.create({
    options,
    store,
    logger,
    metrics,
    mesh: () => meshState.snapshot().policies.mesh,
    workload: (id) => meshState.snapshot().workloads.get(id),
    workloads: () => meshState.snapshot().workloads.values(),
    onRevokedCallersChange: () => {
      meshState.setRevokedCallers(identity.revokedCallers());
      source.refresh();
    },
  });
  const trustDomain = (): string => identity.trustDomain;

  const root = loadEnvoyProtos();
  const encoder = new ResourceEncoder(root);
  const translator = new MeshTranslator();
  const generator = new EncodingProxyGenerator(translator, encoder, () => meshState.snapshot(), logger);

  const source = new MeshConfigSource({
    logger,
    metrics,
    generator,
    identity,
    leases: { renew: async (id) => void (await store.renewLease(id, Date.now())) },
    timers: realTimers,
    state: () => {
      const snapshot = meshState.snapshot();
      return { revision: snapshot.revision, workloads: snapshot.workloads, allowAnonymousConfig: snapshot.policies.mesh.allowAnonymousConfig };
    },
  });
  identity.attach(encoder, () => source.sdsWorkloads());

  const debounce = meshState.snapshot().policies.mesh.debounce;
  const mirror = new RegistryMirror({ store, logger: logger.child({ component: 'mirror' }), quietMs: debounce.quietMs, maxDelayMs: debounce.maxDelayMs });
  let registrySynced = false;
  mirror.onChange((snapshot) => {
    registrySynced = true;
    meshState.update(snapshot);
    meshState.setRevokedCallers(identity.revokedCallers());
    mirror.setDebounce(meshState.snapshot().policies.mesh.debounce);
    source.refresh();
  });
  mirror.start();
  try {
    const revision = await store.revision();
    meshState.update(await mirror.waitForRevision(revision, 10_000));
    registrySynced = true;
  } catch (error) {
    log.warn({ err: error }, 'registry not synced at start-up; serving nothing until it is');
  }

  const reaper = new LeaseReaper({ store, logger: logger.child({ component: 'lease-reaper' }), intervalMs: 1000, graceAfterOutageMs: 30_000 });
  reaper.start();

  const registry = new RegistryService(store, identity, trustDomain, logger, Date.now, (id) => identity.isWorkloadRevoked(id));
  const policies = new PolicyService({
    store,
    snapshot: () => meshState.snapshot(),
    logger,
    trustDomain,
    managedBy: options.configPath,
    onRejected: onPolicyErrors,
    onApplied: (warnings) => {
      policyErrors.last = [];
      policyErrors.warnings = warnings;
    },
  });

  let watcher: PolicyWatcher | undefined;
  if (options.configPath) {
    watcher = new PolicyWatcher({
      path: options.configPath,
      logger: logger.child({ component: 'policy-watcher' }),
      onChange: (result) => void policies.syncFiles(result),
    });
    await policies.syncFiles(await watcher.start());
  }

  const xds = new XdsServer({ source, logger: logger.child({ component: 'xds' }), metrics, controlPlaneId: `accord@${process.pid}` });
  addRegistryService(xds.grpcServer, { registry, apiToken, logger });

  let boundXdsPort = options.xdsPort;
  const advertisedHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const bootstrap = new BootstrapService({ registry, identity, xdsTls: options.xdsTls, defaultXdsAddress: () => `${advertisedHost}:${boundXdsPort}` });
  let started = false;
  const http = buildHttpApi({
    logger,
    metrics,
    apiToken,
    registry,
    policies,
    ca: identity,
    bootstrap,
    health: {
      live: () => true,
      readiness: () => {
        const policy = meshState.policyStatus();
        const snapshot = meshState.snapshot();
        const checks = {
          started: { ok: started },
          registry: {
            ok: registrySynced,
            detail: {
              revision: snapshot.revision,
              workloads: snapshot.workloads.size,
              // Not a readiness failure: xDS keeps serving the last state while the store is down.
              storeReachable: store instanceof RedisStore ? store.healthy : true,
            },
          },
          policies: {
            ok: true,
            detail: {
              lastChangeOk: policy.ok && policyErrors.last.length === 0,
              rejectedChanges: policyErrors.count,
              errors: policyErrors.last.map(formatPolicyError),
              ...(policyErrors.warnings.length > 0 ? { warnings: policyErrors.warnings.map(formatPolicyError) } : {}),
              ...(policy.trustDomainConflict ? { trustDomainIgnored: policy.trustDomainConflict } : {}),
            },
          },
          ca: { ok: true, detail: identity.statusSummary() },
        };
        return { ready: Object.values(checks).every((check) => check.ok), checks };
      },
      proxies: () => xds.proxies(),
    },
  });

  const xdsCredentials = options.xdsTls ? identity.xdsServerCredentials() : undefined;
  const xdsPort = await xds.listen(`${options.host}:${options.xdsPort}`, xdsCredentials).catch((error: unknown) => {
    throw listenFailure(error, options.host, options.xdsPort, '--xds-port');
  });
  boundXdsPort = xdsPort;
  await http.listen({ host: options.host, port: options.httpPort }).catch((error: unknown) => {
    throw listenFailure(error, options.host, options.httpPort, '--http-port');
  });
  const address = http.server.address();
  const httpPort = typeof address === 'object' && address ? address.port : options.httpPort;
  started = true;
  log.info({ xdsPort, httpPort, store: options.redisUrl ? 'redis' : 'memory', dataDir: options.dataDir }, 'accord is serving');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      started = false;
      log.info('shutting down');
      watcher?.close();
      await http.close();
      await xds.close(options.shutdownGraceMs);
      source.close();
      await reaper.stop();
      mirror.stop();
      identity.close();
      await store.close();
      log.info('stopped');
    })();
    return closing;
  };

  return { xdsPort, httpPort, apiToken, logger, metrics, store, xds, http, close };
}

/**
 * `accord serve`: start, then stop gracefully on SIGTERM or SIGINT. A failure to start is a
 * StartupError whose message is one line; the caller ends the process (whatever was already
 * started, such as a Redis connection, must not keep a half-started server alive).
 */
export async function runServe(options: ServeOptions): Promise<void> {
  let handle: AccordHandle;
  try {
    handle = await startAccord(options);
  } catch (error) {
    if (error instanceof StartupError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new StartupError(message.split('\n')[0] ?? message, { cause: error });
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      handle.logger.info({ signal }, 'signal received');
      handle.close().then(resolve, (error: unknown) => {
        handle.logger.error({ err: error }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
