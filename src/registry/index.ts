/** The registry's public surface: what the composition root, the API and the mesh model import. */
export * from './errors.js';
export * from './store.js';
export { MemoryStore, type MemoryStoreOptions } from './memory-store.js';
export { RedisStore, DEFAULT_KEY_PREFIX, type RedisStoreOptions } from './redis-store.js';
export { parseRedisUrl, withPassword, type RedisTarget, type ClusterTarget } from './redis-connection.js';
export { RegistryMirror, type MirrorSnapshot, type MirrorListener, type RegistryMirrorOptions } from './mirror.js';
export { LeaseReaper, type LeaseReaperOptions } from './lease-reaper.js';
export {
  parseRegistration,
  randomIdSuffix,
  endpointIdSuffix,
  workloadId,
  MIN_TTL_MS,
  MAX_TTL_MS,
  type RegistrationResult,
  type RegistrationEndpoint,
} from './registration.js';
export { validateWorkload } from './workload-validation.js';
export { parseDuration, formatDuration, type DurationParse } from '../core/duration.js';
export { deriveServices } from './services.js';
export { realClock, type Clock, type TimerHandle } from '../core/clock.js';
export { createLeaseMetrics, createRegistryMetrics, registerStoreUp, type LeaseMetrics, type RegistryMetrics } from './metrics.js';
