import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { auditAnnotations } from '../support/proto-rules/index.js';

const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'rules.proto');

// Envoy annotates ExtensionConfigSource.config_source, a ConfigSource message, with
// `(validate.rules).any = {required: true}`: an Any rule on a non-Any field, which has no
// defined meaning. It is reported rather than guessed at.
const ENVOY_MISFIT = {
  path: 'envoy.config.core.v3.ExtensionConfigSource.config_source',
  rule: 'unsupported',
  message: 'rule kind any does not apply to this field',
};

describe('auditAnnotations', () => {
  it('understands every validate annotation in the Envoy protos Accord loads, but one misfit', () => {
    expect(auditAnnotations(loadEnvoyProtos())).toEqual([ENVOY_MISFIT]);
  });

  it('lists the annotations the checker cannot evaluate, without needing an object', () => {
    const problems = auditAnnotations(loadEnvoyProtos([FIXTURE])).filter((p) => p.path.startsWith('accord.test.'));
    expect(problems.map(({ path, rule }) => [path, rule])).toEqual([
      ['accord.test.Unsupported.not_a_rule', 'unsupported'],
      ['accord.test.Unsupported.re2_only', 'unsupported'],
      ['accord.test.Unsupported.wrong_kind', 'unsupported'],
    ]);
  });
});
