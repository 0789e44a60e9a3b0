import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MeshTranslator } from '../../src/mesh/index.js';
import { consistencyProblems } from '../mesh/support/consistency.js';
import { lineDiff } from '../../src/app/line-diff.js';
import { ProtoChecker } from '../mesh/support/proto-check.js';
import { renderScenario } from '../mesh/support/render.js';
import { loadScenarioFile, scenarioDocuments } from '../mesh/support/scenario.js';
import { documentsToJson, formatPolicyError, parsePolicyDocuments } from '../../src/config/index.js';
import { createChecker } from '../support/proto-rules/index.js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';

// ACCORD_REFRESH_GOLDEN=1 rewrites every out.yaml; review the diff before committing.
const here = path.dirname(fileURLToPath(import.meta.url));
const refresh = process.env.ACCORD_REFRESH_GOLDEN === '1';
const scenarios = readdirSync(here, { withFileTypes: true })
  .filter((entry) => entry.isDirectory() && existsSync(path.join(here, entry.name, 'in.yaml')))
  .map((entry) => entry.name)
  .sort();
const checker = new ProtoChecker();
const rules = createChecker(loadEnvoyProtos());

describe('golden scenarios', () => {
  it('has scenarios', () => {
    expect(scenarios.length).toBeGreaterThan(0);
  });

  for (const name of scenarios) {
    const dir = path.join(here, name);
    it(`${name}: output matches out.yaml`, () => {
      const actual = renderScenario(loadScenarioFile(path.join(dir, 'in.yaml')), new MeshTranslator());
      const outPath = path.join(dir, 'out.yaml');
      if (refresh) {
        writeFileSync(outPath, actual);
        return;
      }
      if (!existsSync(outPath)) expect.fail(`${name}/out.yaml is missing (ACCORD_REFRESH_GOLDEN=1 to write it)`);
      const expected = readFileSync(outPath, 'utf8');
      if (expected !== actual) {
        expect.fail(`${name}/out.yaml differs (ACCORD_REFRESH_GOLDEN=1 to rewrite):\n${lineDiff(expected, actual)}`);
      }
    });

    // The real Accord (and so real Envoy in test/envoy) can only be given policies that validate.
    it(`${name}: its policies are valid operator documents and survive the store's round trip`, () => {
      const scenario = loadScenarioFile(path.join(dir, 'in.yaml'));
      const parsed = parsePolicyDocuments(documentsToJson(scenarioDocuments(scenario)), `${name}/in.yaml`);
      expect(parsed.ok ? [] : parsed.errors.map(formatPolicyError)).toEqual([]);
      if (!parsed.ok) return;
      // Validation fills in defaults; what matters is that the translation does not change.
      const validated = { ...scenario, input: { ...scenario.input, policies: parsed.policySet } };
      expect(renderScenario(validated, new MeshTranslator())).toBe(renderScenario(scenario, new MeshTranslator()));
    });

    it(`${name}: every resource encodes against Envoy's protos without loss`, () => {
      const scenario = loadScenarioFile(path.join(dir, 'in.yaml'));
      const translator = new MeshTranslator();
      const problems: string[] = [];
      for (const proxy of scenario.proxies) {
        for (const [typeUrl, byName] of translator.translate(scenario.input, proxy.workload, proxy.flavour)) {
          for (const [resourceName, resource] of byName) {
            for (const problem of checker.problems(typeUrl, resource)) {
              problems.push(`${proxy.flavour}/${proxy.workload} ${resourceName}${problem}`);
            }
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it(`${name}: every resource satisfies the validate.rules annotations of Envoy's protos`, () => {
      const scenario = loadScenarioFile(path.join(dir, 'in.yaml'));
      const translator = new MeshTranslator();
      const problems: string[] = [];
      for (const proxy of scenario.proxies) {
        for (const [typeUrl, byName] of translator.translate(scenario.input, proxy.workload, proxy.flavour)) {
          for (const [resourceName, resource] of byName) {
            for (const problem of rules.check('google.protobuf.Any', { '@type': typeUrl, ...resource })) {
              problems.push(`${proxy.flavour}/${proxy.workload} ${resourceName} ${problem.path}: ${problem.rule}: ${problem.message}`);
            }
          }
        }
      }
      expect(problems).toEqual([]);
    });

    it(`${name}: every proxy's resources reference each other consistently`, () => {
      const scenario = loadScenarioFile(path.join(dir, 'in.yaml'));
      const translator = new MeshTranslator();
      const problems = scenario.proxies.flatMap((proxy) =>
        consistencyProblems(translator.translate(scenario.input, proxy.workload, proxy.flavour)).map(
          (problem) => `${proxy.flavour}/${proxy.workload}: ${problem}`,
        ),
      );
      expect(problems).toEqual([]);
    });
  }
});
