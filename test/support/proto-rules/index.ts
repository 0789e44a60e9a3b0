export { checkMessage, checkEncoded, createChecker, type CheckOptions, type ProtoChecker } from './check.js';
export { auditAnnotations } from './audit.js';
export type { Problem } from './problem.js';
export { SUPPORTED_RULES } from './supported.js';
