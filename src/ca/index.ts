/**
 * The certificate authority: CA material (data dir, operator PEM files, shared KV), SPIFFE leaf
 * issuance and CSR signing, revocation and CRLs, workload tokens, SDS secret shapes, leaf rotation
 * scheduling and the root rotation planner.
 */
export {
  CertificateAuthority,
  DEFAULT_BACKDATE_MS,
  DEFAULT_CRL_TTL_MS,
  DEFAULT_LEAF_TTL_MS,
  fingerprintOfPem,
  type CaCertStatus,
  type CaStatus,
  type CertificateAuthorityOptions,
  type IssuedCertificate,
  type IssuedLeaf,
  type LeafJob,
  type LeafJobTemplate,
  type LeafRequest,
} from './authority.js';
export { ISSUANCE_ERROR_CODES, IssuanceError, type IssuanceErrorCode } from './errors.js';
export { IssuancePool, type IssuancePoolOptions } from './issuance-pool.js';
export type { KeyAlgorithm } from './keys.js';
export {
  CaMaterialError,
  DEFAULT_SHARED_CA_KEY,
  createCaMaterial,
  loadOrCreateCaMaterial,
  loadOrCreateShared,
  readSharedCaMaterial,
  replaceSharedCaMaterial,
  withNextIntermediate,
  type CaMaterial,
  type CaSource,
  type LoadCaOptions,
  type SharedCaMaterial,
} from './material.js';
export { DEFAULT_INTERMEDIATE_TTL_MS, DEFAULT_ROOT_TTL_MS, type CaKeyPair } from './ca-certs.js';
export { MemoryCaKv, type CaKv, type VersionedValue } from './kv.js';
export { KekError, kekFromEnv, parseKek, type Kek } from './envelope.js';
export { crlNeedsRefresh, type SignedCrl } from './crl.js';
export { RevocationList, type RevokedCertificate, type RevocationState } from './revocation.js';
export {
  expirySeverity,
  nextIntermediateAt,
  shouldPrepareNextIntermediate,
  type ExpirySeverity,
  type IntermediateRenewalPolicy,
} from './lifecycle.js';
export { TOKEN_ERROR_CODES, TokenError, WorkloadTokens, tokenKeyId, type MintedToken, type TokenErrorCode, type WorkloadClaims } from './tokens.js';
export {
  SdsSecretConfigs,
  sdsSecretConfig,
  tlsCertificateSecret,
  validationContextSecret,
  type SdsSecret,
  type SdsSecretConfig,
  type TlsCertificateSecret,
  type ValidationContextSecret,
} from './sds.js';
export { DEFAULT_ROTATION_POLICY, rotationTime, shouldRotate, type RotationPolicy } from './rotation.js';
export {
  PHASE_ORDER,
  RotationPhaseError,
  TrustChangeError,
  abortRootRotation,
  advanceRootRotation,
  beginRootRotation,
  fenceProxies,
  rotationOver,
  checkTrustChange,
  issuerFor,
  phaseGate,
  phaseTrust,
  phaseTrustPem,
  trustFor,
  type AdvanceResult,
  type CaGeneration,
  type FleetView,
  type GateResult,
  type IssuerChoice,
  type OutstandingLeaf,
  type ProxyAckState,
  type RootRotationPhase,
  type RootRotationState,
} from './root-rotation-plan.js';
export { DEFAULT_NEXT_CA_KEY, DEFAULT_ROTATION_KEY, RootRotation, caGeneration } from './root-rotation-store.js';
export { renewIntermediateIfDue, type RenewalOutcome } from './intermediate-renewal.js';
export { generateLeafKey, type LeafKey } from './keys.js';
export { DEFAULT_REVOCATIONS_KEY, SharedRevocations } from './revocation-store.js';
