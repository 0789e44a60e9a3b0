export * from './contract.js';
export * from './envoy-proto-loader.js';
export { ResourceEncoder, ResourceEncodingError, type EncodingProblem } from './encoder.js';
export { encodeInlineTlsCertificateSecret, isInlineTlsCertificateSecret, type InlineTlsCertificateSecret } from './tls-secret-wire.js';
export { SnapshotCache, type SnapshotCacheOptions } from './snapshot-cache.js';
export {
  XdsServer,
  DEFAULT_XDS_LIMITS,
  type XdsLimits,
  type XdsServerOptions,
  type ProxyStatus,
  type ProxySummary,
  type ResourceStatus,
  type TypeStatus,
  type TypeSummary,
} from './server.js';
export { contentVersion, setVersion } from './versions.js';
export { adsRank, isWildcardType } from './type-order.js';
