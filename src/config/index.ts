/** Operator policy documents: parsing with positions, validation, PolicySet assembly, watching. */
export { parseDuration, formatDuration, type DurationParse } from '../core/duration.js';
export { formatPolicyError, formatFieldPath, parseFieldPath, comparePolicyErrors, type PolicyError, type FieldPath, type PathSegment } from './errors.js';
export {
  parsePolicyStream,
  parsePolicyDocuments,
  validateEachDocument,
  validatePolicySet,
  validatePolicyDocuments,
  type PolicyLoadResult,
  type PolicyParseOptions,
} from './parse.js';
export { errorAt } from './issues.js';
export { readYamlStream, type RawDocument, type YamlStream } from './yaml-stream.js';
export { positionlessSource, type DocumentSource } from './source.js';
export type { LocatedDocument } from './assemble.js';
export { loadPolicyFile, loadPolicyDirectory, loadPolicyPath, readPolicyPath, isPolicyFileName } from './load.js';
export { checkKnownServices, findUnknownServiceReferences, closestName, type ServiceReferenceCheck } from './services.js';
export { EMPTY_POLICY_SET } from './assemble.js';
export { documentsToJson, documentToJson, type PolicyDocumentJson, type JsonValue, type JsonObject } from './serialize.js';
export { PolicyWatcher, type PolicyWatcherOptions, type PolicyWatcherState } from './watcher.js';
export { POLICY_KINDS, DEFAULT_NAMESPACE, type PolicyKind } from './schema/document.js';
export { RETRY_ON, DEFAULT_RETRY_ON } from './schema/traffic.js';
export { HTTP_METHODS } from './schema/authorization.js';
