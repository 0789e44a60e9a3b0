import { RE2JS } from 're2js';
import { BadRequestError } from './requests.js';

/** Longest `safe_regex.regex` accepted in a CSDS node matcher. */
export const MAX_NODE_REGEX_LENGTH = 1024;
/** Most `node_matchers` in one ClientStatusRequest. */
export const MAX_NODE_MATCHERS = 64;

/** envoy.type.matcher.v3.StringMatcher as protobufjs decodes it. */
export interface RawStringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: { regex?: string } | null;
  ignore_case?: boolean;
}

export type NodeIdPredicate = (nodeId: string) => boolean;

/**
 * A CSDS node matcher as a predicate on node ids. `safe_regex` uses RE2 semantics (linear time
 * in the node id, so a caller's pattern cannot stall the event loop) and must match the whole id,
 * as Envoy's does; `ignore_case` does not apply to it (envoy.type.matcher.v3.StringMatcher).
 * Throws BadRequestError naming `field` for a pattern that is too long or not RE2.
 */
export function compileNodeMatcher(matcher: RawStringMatcher, field: string): NodeIdPredicate {
  const fold = matcher.ignore_case ? (text: string) => text.toLowerCase() : (text: string) => text;
  if (matcher.exact) {
    const want = fold(matcher.exact);
    return (id) => fold(id) === want;
  }
  if (matcher.prefix) {
    const want = fold(matcher.prefix);
    return (id) => fold(id).startsWith(want);
  }
  if (matcher.suffix) {
    const want = fold(matcher.suffix);
    return (id) => fold(id).endsWith(want);
  }
  if (matcher.contains) {
    const want = fold(matcher.contains);
    return (id) => fold(id).includes(want);
  }
  const regex = matcher.safe_regex?.regex;
  if (regex) {
    const regexField = `${field}.safe_regex.regex`;
    if (regex.length > MAX_NODE_REGEX_LENGTH) {
      throw new BadRequestError(`${regexField}: ${regex.length} characters exceed the limit of ${MAX_NODE_REGEX_LENGTH}`);
    }
    let compiled: RE2JS;
    try {
      compiled = RE2JS.compile(regex);
    } catch (error) {
      throw new BadRequestError(`${regexField}: not a valid RE2 pattern: ${error instanceof Error ? error.message : String(error)}`.slice(0, 512));
    }
    return (id) => compiled.matches(id);
  }
  return () => true;
}
