import protobuf from 'protobufjs';
import { knownRegexOf } from './formats.js';
import type { Problem, Report } from './problem.js';
import { fieldRulesOf, nestedFieldRules, type FieldRules } from './rules.js';
import { compilePattern } from './scalar-rules.js';
import { reportUnsupportedRules } from './supported.js';
import { fullNameOf, ruleKindsFor, valueTypeOf, type ValueType } from './value-types.js';

/**
 * Lists every validate annotation in the loaded protos that `checkMessage` cannot evaluate,
 * without needing an object: unknown rules, rule kinds on fields they do not fit, patterns
 * JavaScript cannot compile, unknown well-known regexes. Paths are `package.Message.field`.
 */
export function auditAnnotations(root: protobuf.Root): Problem[] {
  const problems: Problem[] = [];
  for (const type of messageTypes(root)) {
    for (const field of type.fieldsArray) {
      const path = `${fullNameOf(type)}.${field.name}`;
      const report: Report = (rule, message) => problems.push({ path, rule, message });
      const container = field instanceof protobuf.MapField ? 'map' : field.repeated ? 'repeated' : 'single';
      auditRules(field, valueTypeOf(field), container, fieldRulesOf(field), report);
    }
  }
  return problems;
}

function auditRules(field: protobuf.Field, valueType: ValueType, container: 'map' | 'repeated' | 'single', rules: FieldRules, report: Report): void {
  const allowed = container === 'single' ? ruleKindsFor(valueType) : [container];
  for (const [kind, set] of Object.entries(rules)) {
    if (!allowed.includes(kind)) {
      report('unsupported', `rule kind ${kind} does not apply to this field`);
      continue;
    }
    reportUnsupportedRules(kind, set, report);
    if (kind === 'repeated') auditRules(field, valueType, 'single', nestedFieldRules(set.items), report);
    if (kind === 'map' && field instanceof protobuf.MapField) {
      auditRules(field, { kind: 'scalar', scalar: field.keyType }, 'single', nestedFieldRules(set.keys), report);
      auditRules(field, valueType, 'single', nestedFieldRules(set.values), report);
    }
    if (typeof set.pattern === 'string' && !compilePattern(set.pattern)) {
      report('unsupported', `rule ${kind}.pattern ${JSON.stringify(set.pattern)} cannot be evaluated as a JavaScript regular expression`);
    }
    if (set.well_known_regex !== undefined && !knownRegexOf(set.well_known_regex)) {
      report('unsupported', `rule ${kind}.well_known_regex ${String(set.well_known_regex)} is not supported by this checker`);
    }
  }
}

function messageTypes(namespace: protobuf.NamespaceBase): protobuf.Type[] {
  const types: protobuf.Type[] = [];
  for (const nested of namespace.nestedArray) {
    if (nested instanceof protobuf.Type) types.push(nested);
    if (nested instanceof protobuf.Namespace) types.push(...messageTypes(nested));
  }
  return types;
}
