import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Server as TlsServer } from 'node:tls';
import { createLogger, type Logger } from '../observability/logger.js';
import { createMetricsRegistry, type Registry } from '../observability/metrics.js';
import { registerMeshMetrics } from '../observability/mesh-metrics.js';
import { buildHttpApi } from '../api/http.js';
import { loadDashboardAssets } from '../api/dashboard.js';
import { addRegistryService } from '../api/grpc-registry.js';
import { OperatorTokenCheck } from '../api/operator-token.js';
import { OperatorTokens, parseTokenFile } from '../api/operator-tokens.js';
import { RegistrationTokens, parseRegistrationTokenFile } from '../api/registration-tokens.js';
import { FollowedFile } from './followed-file.js';
import {
  LeaseReaper,
  MemoryStore,
  RedisStore,
  RegistryMirror,
  createLeaseMetrics,
  createRegistryMetrics,
  realClock,
  registerStoreUp,
  withPassword,
  type Store,
} from '../registry/index.js';
import { PolicyWatcher, formatPolicyError, type PolicyError } from '../config/index.js';
import { MeshTranslator } from '../mesh/index.js';
import { ResourceEncoder, XdsServer, encodeInlineTlsCertificateSecret, isInlineTlsCertificateSecret, loadEnvoyProtos } from '../xds/index.js';
import type { ServeOptions } from './options.js';
import { MeshStateTracker } from './mesh-state.js';
import { MeshConfigSource } from './mesh-source.js';
import { StreamAuthentication } from './stream-authentication.js';
import { StreamLeaseRenewal } from './stream-lease-renewal.js';
import { EncodingProxyGenerator } from './proxy-generator.js';
import { RegistryService } from './registry-service.js';
import { PolicyService } from './policy-service.js';
import { CaRuntime, DEFAULT_TRUST_DOMAIN } from '../identity/ca-runtime.js';
import { WorkloadRevocations } from '../identity/revocations.js';
import { TokenDenyList } from '../identity/token-denylist.js';
import { IssuanceLimiter } from '../identity/issuance-limiter.js';
import { IssuancePool } from '../ca/index.js';
import { TrustLedger } from '../identity/trust-ledger.js';
import { WorkloadAccess } from '../identity/workload-access.js';
import { SecretIssuer } from '../identity/secret-issuer.js';
import { SecretLifecycles } from '../identity/secret-lifecycle.js';
import { ServerCertificates } from '../identity/server-certificate.js';
import { CaApi } from '../identity/ca-api.js';
import { TypeUrl } from '../xds/contract.js';
import type { MeshSpec } from '../core/policy.js';
import { sleep } from '../core/clock.js';
import type { Workload } from '../core/workload.js';
import { BootstrapService } from './bootstrap-service.js';
import { exposureCheck, readTlsFiles, type TlsFiles } from './exposure.js';
import { LivenessMonitor } from './liveness.js';
import { registerOperationsMetrics, rootRotationPhaseSince } from './operations-metrics.js';
import { StartupError, assertPortFree, listenFailure } from './listen.js';
import { ProxyStatusReporter, leavesOf } from './proxy-status.js';
import { DescribeService } from './describe.js';
import { hostname } from 'node:os';
import { HeapGrowthGovernor, eventLoopIdle, fullCollection, heapGrowthGiven, setHeapGrowingPercent } from './heap-growth.js';

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

/** A token file must be the owner's alone, like ca.json: anything wider is narrowed to 0600, with a warning. */
async function ownerOnly(file: string, log: Logger): Promise<void> {
  const mode = (await stat(file)).mode & 0o777;
  if ((mode & 0o077) === 0) return;
  log.warn({ file, mode: mode.toString(8) }, 'token file was readable by group or others; set to 0600 (rotate the token if others may have read it)');
  await chmod(file, 0o600);
}

async function readTokenFile(file: string, log: Logger): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  await ownerOnly(file, log);
  return text.trim() || undefined;
}

async function operatorToken(options: ServeOptions, log: Logger): Promise<string> {
  if (options.apiToken) return options.apiToken;
  const file = path.join(options.dataDir, 'api-token');
  const existing = await readTokenFile(file, log);
  if (existing) {
    log.info({ file }, 'using the operator token kept in the data dir');
    return existing;
  }
  const token = randomBytes(32).toString('base64url');
  await writeFile(file, `${token}\n`, { mode: 0o600 });
  log.info({ file }, 'generated an operator token (set ACCORD_API_TOKEN to choose one); it is in this file');
  return token;
}

async function httpsMaterial(options: ServeOptions, server: ServerCertificates): Promise<TlsFiles | undefined> {
  if (options.httpTlsCertFile && options.httpTlsKeyFile) return readTlsFiles(options.httpTlsCertFile, options.httpTlsKeyFile, '--http-tls-cert/--http-tls-key');
  if (!options.httpTls) return undefined;
  return new Promise((resolve) => {
    const stop = server.onChange((material) => {
      resolve(material);
      queueMicrotask(() => stop());
    });
  });
}

async function xdsServerCredentials(options: ServeOptions, server: ServerCertificates): Promise<grpc.ServerCredentials | undefined> {
  if (options.xdsTlsCertFile && options.xdsTlsKeyFile) {
    const files = await readTlsFiles(options.xdsTlsCertFile, options.xdsTlsKeyFile, '--xds-tls-cert/--xds-tls-key');
    // Proxies authenticate with their workload token; a client certificate is not required.
    return grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(files.certChainPem), private_key: Buffer.from(files.keyPem) }], false);
  }
  return options.xdsTls ? server.xdsCredentials() : undefined;
}
/** The lease reaper runs (and heartbeats) this often; a replica silent for 5 of them was away. */
const LEASE_REAP_INTERVAL_MS = 1000;
const LEASE_ABSENT_AFTER_MS = 5 * LEASE_REAP_INTERVAL_MS;
/** Each replica publishes its proxies' sync state this often (`accord status`). */
const PROXY_STATUS_INTERVAL_MS = 2000;
/** The longest a status publish waits for a reconnect storm to end. */
const PROXY_STATUS_MAX_DEFER_MS = 10_000;
/** A publish also waits while the event loop was busier than this since the last look (0–1). */
const PROXY_STATUS_BUSY_ABOVE = 0.5;
/** After a connection's maximum age (GOAWAY): xDS streams never end by themselves, so this is only for unary calls. */
const CONNECTION_AGE_GRACE_MS = 5_000;

/** The composition root: constructs every long-lived object and wires them together. */
export async function startAccord(options: ServeOptions, overrides: StartOverrides = {}): Promise<AccordHandle> {
  const logger = overrides.logger ?? createLogger({ level: options.logLevel });
  const log = logger.child({ component: 'serve' });
  const exposure = exposureCheck(options);
  if (exposure.refusal) throw new Error(exposure.refusal);
  for (const warning of exposure.warnings) log.warn(warning);
  const metrics = createMetricsRegistry();
  // Taken ports fail the start at once, before anything else is set up.
  await assertPortFree(options.host, options.xdsPort, '--xds-port');
  await assertPortFree(options.host, options.httpPort, '--http-port');
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  // Token files are followed: tokens rotate without a restart (docs/operations.md, Rotating credentials).
  const followed: FollowedFile[] = [];
  let operatorTokens: OperatorTokens | undefined;
  let firstToken: string | undefined;
  if (options.apiTokenFile) {
    const file = options.apiTokenFile;
    followed.push(await FollowedFile.open(file, '--api-token-file', 'operator token', (text) => {
      const tokens = parseTokenFile(text, file);
      firstToken ??= tokens[0];
      if (operatorTokens) operatorTokens.replace(tokens);
      else operatorTokens = new OperatorTokens(tokens);
      return tokens.length;
    }, logger));
  }
  const apiToken = firstToken ?? (await operatorToken(options, log));
  operatorTokens ??= new OperatorTokens([apiToken]);
  const registrationTokens = new RegistrationTokens();
  if (options.registrationTokenFile) {
    const file = options.registrationTokenFile;
    followed.push(await FollowedFile.open(file, '--registration-token-file', 'registration token', (text) => {
      const tokens = parseRegistrationTokenFile(text, file);
      // An operator token must not double as a registration token (it would lose its reach).
      const clash = tokens.find((entry) => operatorTokens?.accepts(entry.token));
      if (clash) throw new Error(`${file}: the token of namespace "${clash.namespace}" is an operator token`);
      registrationTokens.replace(tokens);
      return tokens.length;
    }, logger));
  }
  const apiReadToken = options.apiReadToken ?? (options.apiReadTokenFile ? await readTokenFile(options.apiReadTokenFile, log) : undefined);
  if (options.apiReadTokenFile && !apiReadToken) throw new Error(`ACCORD_API_READ_TOKEN_FILE: ${options.apiReadTokenFile} is missing or empty`);
  if (apiReadToken !== undefined && operatorTokens.accepts(apiReadToken)) throw new Error('the read-only operator token must differ from the operator token');

  const store: Store = options.redisUrl
    ? await RedisStore.connect({
        target: options.redisPassword ? withPassword(options.redisUrl, options.redisPassword) : options.redisUrl,
        keyPrefix: `{${options.redisPrefix}}:`,
        logger: logger.child({ component: 'redis-store' }),
        metrics: createRegistryMetrics(metrics),
      })
    : new MemoryStore({ logger: logger.child({ component: 'memory-store' }) });

  // Collected at scrape time, after everything below exists.
  const operationsMetrics = registerOperationsMetrics(metrics, {
    proxies: () => xds.proxySummaries(),
    workloads: () => meshState.snapshot().workloads.size,
    rootRotationPhaseSince: () => rootRotationPhaseSince(caApi.status()),
    now: () => Date.now(),
  });
  const policyErrors = { count: 0, last: [] as readonly PolicyError[], warnings: [] as readonly PolicyError[] };
  const meshMetrics = registerMeshMetrics(metrics, {
    leafExpiries: () => ledger.leafExpiries(),
    rotationPhase: () => caApi.statusSummary().rootRotation,
    syncStates: () => proxyStatus.syncStates(),
    now: () => Date.now(),
  });
  const onPolicyErrors = (errors: readonly PolicyError[]): void => {
    operationsMetrics.policyRejections.inc();
    meshMetrics.policyChanges.inc({ result: 'rejected' });
    policyErrors.count += 1;
    policyErrors.last = errors;
  };
  const meshState = new MeshStateTracker(logger, { trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN }, onPolicyErrors);
  // Workload identity (src/identity/): the CA as it runs here, who holds which trust (the ledger),
  // who may be served (tokens, deny-list, revocations), issuance, and each proxy's secrets.
  const clock = realClock;
  const random = Math.random;
  const mesh = (): MeshSpec => meshState.snapshot().policies.mesh;
  const workloadOf = (id: string): Workload | undefined => meshState.snapshot().workloads.get(id);
  const now = (): number => clock.now();
  const runtime = await CaRuntime.open({
    options,
    store,
    logger,
    metrics,
    mesh,
    clock,
    fleet: () => ledger.fleet(),
    onPhaseChange: () => {
      secrets.clearTrustCache();
      serverCertificates.refresh();
      void revocations.refreshCrl().finally(() => secrets.trustChanged());
    },
    onIssuerChange: () => revocations.refreshCrl(),
  });
  const revocations = new WorkloadRevocations({
    kv: runtime.kv,
    ca: runtime.ca,
    otherIssuers: () => runtime.otherIssuers(),
    logger,
    now,
    clock,
    onCrlChange: () => {
      secrets.clearTrustCache();
      secrets.trustChanged();
    },
    onRevokedWorkloadsChange: () => {
      meshState.setRevokedCallers(access.revokedCallers());
      source.recheckAllAccess();
      source.refresh();
    },
  });
  const denied = new TokenDenyList({ kv: runtime.kv, logger, now, clock, onChange: (change) => source.recheckDenied(change) });
  const access = new WorkloadAccess({ runtime, revocations, denied, workloads: () => meshState.snapshot().workloads.values(), tokenTtlMs: options.tokenTtlMs, now });
  const ledger: TrustLedger = new TrustLedger({
    runtime,
    workload: workloadOf,
    isRevoked: (id) => revocations.isRevoked(id),
    sdsHolders: (): Iterable<string> => secrets.holders(),
    rotationGraceMs: options.rotationGraceMs,
    now,
    onTrustChange: (workloadId) => secrets.trustChanged(workloadId),
  });
  const issuancePool = options.issuanceWorkers > 0 ? new IssuancePool({ size: options.issuanceWorkers }) : undefined;
  const issuer: SecretIssuer = new SecretIssuer({
    ledger,
    revocations,
    limiter: new IssuanceLimiter({ burst: options.issueBurst, perMinute: options.issuePerMinute }, now),
    mesh,
    spiffeIdOf: (workload) => access.spiffeIdOf(workload),
    random,
    ...(issuancePool ? { pool: issuancePool } : {}),
  });
  const serverCertificates = new ServerCertificates({ runtime, host: options.host, tlsSans: options.tlsSans, mesh, clock, random, logger });
  const caApi = new CaApi({ runtime, access, issuer, ledger, revocations, workload: workloadOf, tokenTtlMs: options.tokenTtlMs, now, logger, metrics });
  const trustDomain = (): string => runtime.trustDomain;

  const root = loadEnvoyProtos();
  const encoder = new ResourceEncoder(root);
  const translator = new MeshTranslator();
  const generator = new EncodingProxyGenerator(translator, encoder, () => meshState.snapshot(), logger);

  const secrets: SecretLifecycles = new SecretLifecycles({
    issuer,
    ledger,
    // Each proxy's own certificate and key is written straight to wire bytes (one per proxy); the trust bundle takes the general encoder.
    encode: (name, secret) =>
      isInlineTlsCertificateSecret(secret) ? encodeInlineTlsCertificateSecret(name, secret) : encoder.encode(TypeUrl.Secret, name, secret as Readonly<Record<string, unknown>>),
    workload: workloadOf,
    clock,
    logger,
    metrics,
  });
  const source = new MeshConfigSource({
    logger,
    metrics,
    generator,
    authentication: new StreamAuthentication({ access, allowAnonymous: () => meshState.snapshot().policies.mesh.allowAnonymousConfig, clock, logger, metrics }),
    secrets,
    listeners: [
      new StreamLeaseRenewal({
        leases: { renew: async (id) => void (await store.renewLease(id, Date.now())) },
        leaseMs: (id) => workloadOf(id)?.leaseMs,
        clock,
        logger,
      }),
    ],
    state: () => meshState.snapshot(),
  });
  // Revocations and denied tokens are in force before the first stream or request is served.
  await revocations.load();
  await denied.start();
  revocations.start();
  runtime.start();

  const debounce = meshState.snapshot().policies.mesh.debounce;
  const mirror = new RegistryMirror({ store, logger: logger.child({ component: 'mirror' }), quietMs: debounce.quietMs, maxDelayMs: debounce.maxDelayMs });
  let registrySynced = false;
  mirror.onChange((snapshot) => {
    registrySynced = true;
    meshState.update(snapshot);
    meshState.setRevokedCallers(access.revokedCallers());
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

  const storeReachable = (): boolean => (store instanceof RedisStore ? store.healthy : true);
  registerStoreUp(metrics, storeReachable);
  const reaper = new LeaseReaper({
    store,
    logger: logger.child({ component: 'lease-reaper' }),
    intervalMs: LEASE_REAP_INTERVAL_MS,
    absentAfterMs: LEASE_ABSENT_AFTER_MS,
    reconnectWindowMs: options.leaseReconnectWindowMs,
    metrics: createLeaseMetrics(metrics),
  });
  reaper.start();
  const liveness = new LivenessMonitor({
    clock,
    now: () => Date.now(),
    storeCallSettledAt: () => reaper.lastTickAt,
    storeStallMs: 30_000,
    eventLoopStallMs: 10_000,
  });
  liveness.start();

  const tokenMinter = {
    mint: (claims: { workloadId: string; spiffeId: string }, at: number) => access.mint(claims, at),
    denyWorkloadTokens: (workloadId: string) => access.denyWorkloadTokens(workloadId),
    workloadClaims: (token: string) => caApi.workloadClaims(token),
  };
  const registry = new RegistryService(store, tokenMinter, trustDomain, logger, Date.now, (id) => access.isWorkloadRevoked(id));
  const policies = new PolicyService({
    store,
    snapshot: () => meshState.snapshot(),
    logger,
    trustDomain,
    managedBy: options.configPath,
    onRejected: onPolicyErrors,
    onAccepted: () => meshMetrics.policyChanges.inc({ result: 'accepted' }),
    onApplied: (warnings) => {
      policyErrors.last = [];
      policyErrors.warnings = warnings;
    },
  });

  let watcher: PolicyWatcher | undefined;
  if (options.configPath) {
    watcher = new PolicyWatcher({
      clock,
      path: options.configPath,
      logger: logger.child({ component: 'policy-watcher' }),
      onChange: (result) => void policies.syncFiles(result),
    });
    await policies.syncFiles(await watcher.start());
  }

  const operator = new OperatorTokenCheck(operatorTokens);
  const xds = new XdsServer({
    clock,
    root,
    source,
    logger: logger.child({ component: 'xds' }),
    metrics,
    controlPlaneId: `accord@${process.pid}`,
    limits: options.xdsLimits,
    ...(options.maxConnectionAgeMs > 0 ? { connectionAge: { maxMs: options.maxConnectionAgeMs, graceMs: CONNECTION_AGE_GRACE_MS } } : {}),
    // CSDS shows every proxy's state: operators only (docs/security.md).
    authorizeStatusReader: (caller) => operator.check(caller.metadata.get('authorization')),
  });
  addRegistryService(xds.grpcServer, { registry, apiToken: operatorTokens, logger });

  let boundXdsPort = options.xdsPort;
  const advertisedHost = options.host === '0.0.0.0' || options.host === '::' ? '127.0.0.1' : options.host;
  const bootstrap = new BootstrapService({ registry, identity: { xdsServerSpiffeId: () => serverCertificates.spiffeId() }, xdsTls: options.xdsTlsCertFile ? 'operator' : options.xdsTls ? 'mesh-ca' : 'none', defaultXdsAddress: () => `${advertisedHost}:${boundXdsPort}` });
  const proxyStatus = new ProxyStatusReporter({
    store,
    replica: options.replicaName ?? `${hostname()}-${process.pid}`,
    proxies: () => xds.eachProxySummary(),
    workload: (id) => meshState.snapshot().workloads.get(id),
    leaf: (id) => ledger.leafOf(id),
    logger,
    now: () => Date.now(),
    staleAfterMs: options.staleAfterMs,
    intervalMs: PROXY_STATUS_INTERVAL_MS,
    clock,
    deferWhile: fleetReconnecting(xds),
    maxDeferMs: PROXY_STATUS_MAX_DEFER_MS,
  });
  let started = false;
  const http = buildHttpApi({
    logger,
    metrics,
    apiToken: operatorTokens,
    apiReadToken,
    registrationTokens,
    https: await httpsMaterial(options, serverCertificates),
    registry,
    policies,
    ca: caApi,
    bootstrap,
    proxyStatus,
    dashboard: await loadDashboardAssets(),
    describe: new DescribeService({ snapshot: () => meshState.snapshot(), spiffeIdOf: (w) => access.spiffeIdOf(w), leaves: async () => leavesOf(await proxyStatus.fleet(), clock.now()) }),
    health: {
      live: () => liveness.status(),
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
              storeReachable: storeReachable(),
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
          ca: { ok: true, detail: caApi.statusSummary() },
        };
        return { ready: Object.values(checks).every((check) => check.ok), checks };
      },
      proxies: () => xds.proxies(),
    },
  });

  if (options.httpTls) {
    // Follow the CA: a rotated certificate (or a root rotation) reaches new handshakes without a restart.
    serverCertificates.onChange((material) => http.server instanceof TlsServer && http.server.setSecureContext({ cert: material.certChainPem, key: material.keyPem }));
  }
  const xdsCredentials = await xdsServerCredentials(options, serverCertificates);
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
  proxyStatus.start();
  log.info(
    { host: options.host, xdsPort, httpPort, xdsTls: xdsCredentials !== undefined, httpTls: options.httpTls || options.httpTlsCertFile !== undefined, store: options.redisUrl ? 'redis' : 'memory', dataDir: options.dataDir },
    'accord is serving',
  );

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      // Drained shutdown (docs/operations.md): readiness fails and new xDS streams are refused at
      // once; open streams are served through the drain period, then ended spread over the close
      // window; HTTP (health, metrics, the API) closes last.
      started = false;
      xds.drain();
      log.info({ drainPeriodMs: options.drainPeriodMs, closeWindowMs: options.drainCloseWindowMs, streams: xds.streamCounts().open }, 'draining: not ready, refusing new xDS streams');
      if (options.drainPeriodMs > 0) await sleep(clock, options.drainPeriodMs);
      log.info({ streams: xds.streamCounts().open }, 'shutting down: closing xDS streams');
      await xds.close(options.shutdownGraceMs, { closeWindowMs: options.drainCloseWindowMs });
      watcher?.close();
      proxyStatus.stop();
      await http.close();
      for (const file of followed) file.close();
      source.close();
      await reaper.stop();
      liveness.stop();
      mirror.stop();
      runtime.close();
      serverCertificates.close();
      await issuancePool?.close();
      revocations.stop();
      denied.stop();
      await store.close();
      log.info('stopped');
    })();
    return closing;
  };

  return { xdsPort, httpPort, apiToken, logger, metrics, store, xds, http, close };
}

/** xDS streams being set up or waiting for a place to be: many at once is a fleet (re)connecting. */
function streamsSettingUp(xds: Pick<XdsServer, 'streamCounts'>): number {
  const counts = xds.streamCounts();
  return counts.pending + counts.queued;
}

/**
 * Whether a fleet is (re)connecting: streams still being set up, or the event loop busy sending what
 * they asked for (every stream of a 10,000-proxy restart is admitted seconds before the last proxy
 * has its config). Each call looks at the loop since the previous one.
 */
function fleetReconnecting(xds: Pick<XdsServer, 'streamCounts'>): () => boolean {
  const quiet = eventLoopIdle(PROXY_STATUS_BUSY_ABOVE);
  return () => !quiet() || streamsSettingUp(xds) >= STORM_STREAMS;
}

/** Old-generation growth between major GCs: steady + 25 % is the fleet's RSS budget under churn (issue 13). */
const HEAP_GROWING_PERCENT = 25;
/** Streams being set up at once that make a reconnect storm (heap growth uncapped meanwhile), and the quiet that ends one. */
const STORM_STREAMS = 64;
const STORM_QUIET_MS = 5_000;
/** The collection that applies the cap waits for a check that saw the event loop busy less than this… */
const COLLECT_WHEN_BUSY_BELOW = 0.5;
/**
 * …but no longer than this: under constant churn the loop may never be that idle, and until a full
 * collection the storm's larger limit fills with churn garbage (+ 59 % RSS for 40 s at 5,000 proxies).
 */
const MAX_COLLECT_DELAY_MS = 5_000;

/**
 * `accord serve`: start, then stop gracefully on SIGTERM or SIGINT. A failure to start is a
 * StartupError whose message is one line; the caller ends the process (whatever was already
 * started, such as a Redis connection, must not keep a half-started server alive).
 */
export async function runServe(options: ServeOptions): Promise<void> {
  // The growth factor is the process's, so the CLI entry point owns it, not startAccord (tests run several in one process).
  const governHeap = !heapGrowthGiven(process.execArgv, process.env.NODE_OPTIONS);
  if (governHeap) setHeapGrowingPercent(0);
  // grpc-js frames every outgoing message in a fresh Buffer.allocUnsafe; over 4 KB (half of Node's
  // 8 KB pool: every CDS and LDS response of a proxy with ten upstreams) that is a backing store of
  // its own, ≈ 25 µs each, 15 % of a policy change pushed to 10,000 proxies (docs/benchmarks.md,
  // `fleet`). A 64 KB pool serves them; the framed copies live only until the socket takes them.
  Buffer.poolSize = 64 * 1024;
  let handle: AccordHandle;
  try {
    handle = await startAccord(options);
  } catch (error) {
    if (error instanceof StartupError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new StartupError(message.split('\n')[0] ?? message, { cause: error });
  }
  const governor = governHeap
    ? new HeapGrowthGovernor({
        steadyPercent: HEAP_GROWING_PERCENT,
        streamsSettingUp: () => streamsSettingUp(handle.xds),
        stormStreams: STORM_STREAMS,
        quietMs: STORM_QUIET_MS,
        checkMs: 1_000,
        setPercent: setHeapGrowingPercent,
        collect: fullCollection(),
        idle: eventLoopIdle(COLLECT_WHEN_BUSY_BELOW),
        maxCollectDelayMs: MAX_COLLECT_DELAY_MS,
        clock: realClock,
        logger: handle.logger.child({ component: 'heap-growth' }),
      })
    : undefined;
  governor?.start();
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      governor?.stop();
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
