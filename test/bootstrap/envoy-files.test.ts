import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { parse } from 'yaml';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { checkMessage } from '../support/proto-rules/check.js';
import { envoyBootstrap, envoyBootstrapYaml, type EnvoyBootstrapInput } from '../../src/mesh/bootstrap/index.js';
import { workload } from './fixtures.js';

const ENVOY_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../envoy');
const EXAMPLE_INPUT = path.join(ENVOY_DIR, 'example', 'input.json');
const EXAMPLE_BOOTSTRAP = path.join(ENVOY_DIR, 'example', 'bootstrap.yaml');
/** `ACCORD_REFRESH_GOLDEN=1 npx vitest run test/bootstrap` rewrites the committed example. */
const REFRESH = process.env.ACCORD_REFRESH_GOLDEN === '1';

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyProtos();
});

describe('envoy/bootstrap.template.yaml', () => {
  const template = readFileSync(path.join(ENVOY_DIR, 'bootstrap.template.yaml'), 'utf8');
  const values: Record<string, string> = {
    WORKLOAD_ID: 'payments-7f9c2',
    SERVICE: 'payments',
    REGION: 'eu-west-1',
    ZONE: 'eu-west-1a',
    WORKLOAD_TOKEN: 'tok.en.value',
    XDS_HOST: 'accord.mesh.svc',
    XDS_PORT: '18000',
    CA_BUNDLE: '/etc/accord/ca.pem',
    XDS_SPIFFE_ID: 'spiffe://mesh.local/ns/accord-system/sa/accord',
  };

  it('documents every placeholder it uses', () => {
    const lines = template.split('\n');
    const body = lines.filter((line) => !line.trimStart().startsWith('#')).join('\n');
    const comments = lines.filter((line) => line.trimStart().startsWith('#')).join('\n');
    const used = [...new Set([...body.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1]))].sort();
    expect(used).toEqual(Object.keys(values).sort());
    for (const name of used) expect(comments).toContain(`\${${name}}`);
  });

  it('filled in, equals what envoyBootstrap generates for the same workload', () => {
    const filled = template.replace(/\$\{(\w+)\}/g, (_m, name: string) => values[name] ?? `<missing ${name}>`);
    const input: EnvoyBootstrapInput = {
      workload: workload(),
      token: values.WORKLOAD_TOKEN,
      xdsAddresses: [`${values.XDS_HOST}:${values.XDS_PORT}`],
      caBundlePath: values.CA_BUNDLE,
      xdsServerSpiffeId: values.XDS_SPIFFE_ID,
      tls: true,
      delta: false,
    };
    const parsed: unknown = parse(filled);
    expect(parsed).toEqual(envoyBootstrap(input));
    expect(checkMessage(root, 'envoy.config.bootstrap.v3.Bootstrap', parsed)).toEqual([]);
  });
});

describe('envoy/example', () => {
  const input = JSON.parse(readFileSync(EXAMPLE_INPUT, 'utf8')) as EnvoyBootstrapInput;
  const generated = envoyBootstrapYaml(input);
  if (REFRESH) writeFileSync(EXAMPLE_BOOTSTRAP, generated);

  it('bootstrap.yaml is exactly what envoyBootstrapYaml produces for input.json', () => {
    expect(readFileSync(EXAMPLE_BOOTSTRAP, 'utf8')).toBe(generated);
  });

  it('bootstrap.yaml passes Envoy\'s Bootstrap proto and validate rules', () => {
    expect(checkMessage(root, 'envoy.config.bootstrap.v3.Bootstrap', parse(readFileSync(EXAMPLE_BOOTSTRAP, 'utf8')))).toEqual([]);
  });
});
