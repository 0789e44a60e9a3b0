/**
 * `accord apply | delete | policies` as an operator runs them: the CLI as a process against a
 * real `accord serve` process. Regressions for issue #12: an empty directory wiped every policy,
 * applying one file dropped the others, a typo in a target quietly removed an ALLOW rule, a Mesh
 * asking for another trust domain said "applied", re-applying wrote a new revision, a failed dry
 * run changed the readiness detail (/v1/status).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, OPERATOR_TOKEN, waitFor } from '../e2e/processes.js';
import { runCli, type CliResult } from './run-cli.js';

const AUTHZ = (target: string, annotations = ''): string => `apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata:
  name: payments-callers
${annotations}spec:
  target: ${target}
  rules:
    - from: [{ service: orders }]
`;
const TIMEOUTS = `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: payments-timeouts }
spec:
  target: payments
  requestTimeout: 3s
`;
const ORDERS = `apiVersion: accord.dev/v1
kind: UpstreamPolicy
metadata: { name: orders-upstreams, namespace: shop }
spec:
  source: orders
  upstreams: [{ service: payments, namespace: default, localPort: 9001 }]
`;

interface Listing {
  revision: number;
  managedBy?: string;
  documents: { kind: string; metadata: { name: string; namespace: string; revision: number }; spec: { target?: string } }[];
}

describe('accord apply, delete and policies against accord serve', () => {
  let server: AccordProcess;
  let dir: string;
  const cli = (args: string[], input?: string): Promise<CliResult> =>
    runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN }, input);
  const file = async (name: string, text: string): Promise<string> => {
    const target = path.join(dir, name);
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, text);
    return target;
  };
  const listing = async (): Promise<Listing> => (await server.request('GET', '/v1/policies')).body as Listing;
  const keys = async (): Promise<string[]> => (await listing()).documents.map((d) => `${d.kind} ${d.metadata.namespace}/${d.metadata.name}`).sort();

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-cli-policies-'));
    server = await AccordProcess.start([]);
    for (const [service, namespace, port] of [['payments', 'default', 8080], ['orders', 'default', 8081], ['orders', 'shop', 8082]] as const) {
      const registered = await server.request('POST', '/v1/workloads', { service, namespace, address: '127.0.0.1', port });
      expect(registered.status).toBe(201);
    }
    // The registry mirror debounces; wait until the server sees all three services.
    await waitFor(async () => (((await server.request('GET', '/v1/services')).body as { services: unknown[] }).services.length === 3 ? true : undefined), 10_000, 'services');
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies per object: a file applied alone leaves the others in force; identical documents are "unchanged"', async () => {
    const authz = await file('a/authz.yaml', AUTHZ('payments'));
    const timeouts = await file('a/timeouts.yaml', TIMEOUTS);
    const first = await cli(['apply', '-f', authz, '-f', timeouts]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^AuthorizationPolicy default\/payments-callers created$/m);
    expect(first.stdout).toMatch(/^TrafficPolicy default\/payments-timeouts created$/m);
    const revision = (await listing()).revision;

    // Before: applying one file replaced the whole set with it.
    const orders = await file('b/orders.yaml', ORDERS);
    const second = await cli(['apply', '-f', orders]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^UpstreamPolicy shop\/orders-upstreams created$/m);
    expect(await keys()).toEqual(['AuthorizationPolicy default/payments-callers', 'TrafficPolicy default/payments-timeouts', 'UpstreamPolicy shop/orders-upstreams']);

    const again = await cli(['apply', '-f', path.join(dir, 'a')]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/^AuthorizationPolicy default\/payments-callers unchanged$/m);
    expect(again.stdout).toMatch(/^unchanged: already in force at revision \d+$/m);
    const after = await listing();
    expect(after.revision).toBeGreaterThan(revision);
    const unchanged = await cli(['apply', '-f', path.join(dir, 'a'), '-o', 'json']);
    expect(JSON.parse(unchanged.stdout)).toMatchObject({ applied: false, unchanged: true, revision: after.revision });
    expect((await listing()).revision).toBe(after.revision);
  });

  it('lists what is in force as a table, as JSON (the API shape) and as YAML that applies back unchanged', async () => {
    const table = await cli(['policies']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^KIND\s+NAMESPACE\s+NAME\s+TARGET\s+REVISION$/);
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^AuthorizationPolicy\s+default\s+payments-callers\s+payments\s+\d+$/)]));
    expect(lines).toEqual(expect.arrayContaining([expect.stringMatching(/^UpstreamPolicy\s+shop\s+orders-upstreams\s+orders\s+\d+$/)]));

    const json = await cli(['policies', '-o', 'json']);
    expect(JSON.parse(json.stdout)).toEqual(await listing());
    const filtered = JSON.parse((await cli(['policies', '-o', 'json', '--kind', 'upstreampolicy'])).stdout) as Listing;
    expect(filtered.documents.map((d) => d.metadata.name)).toEqual(['orders-upstreams']);

    const yaml = await cli(['policies', '-o', 'yaml']);
    expect(yaml.stdout).toContain('kind: TrafficPolicy');
    const reapplied = await cli(['apply', '-f', '-'], yaml.stdout);
    expect(reapplied.code, reapplied.stderr).toBe(0);
    expect(reapplied.stdout).toMatch(/^unchanged: /m);
  });

  it('refuses an empty set: apply has nothing to do, --prune would delete everything unless --force', async () => {
    const empty = path.join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    const before = await listing();

    // Before: "applied 0 document(s)", exit 0, every policy gone.
    const plain = await cli(['apply', '-f', empty]);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim()).toBe(`accord: no policy documents in ${empty}; nothing to apply`);
    const pruned = await cli(['apply', '-f', empty, '--prune']);
    expect(pruned.code).toBe(1);
    expect(pruned.stderr).toMatch(/^accord: refusing to prune with no documents in .*: that deletes every policy in force; add --force if you mean it\n$/);
    expect(await listing()).toEqual(before);

    // The API refuses it too: PUT /v1/policies with nothing and no force.
    const api = await fetch(`${server.http}/v1/policies`, { method: 'PUT', headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, 'content-type': 'application/json' }, body: '[]' });
    expect(api.status).toBe(400);
    expect(await listing()).toEqual(before);
    expect((await cli(['apply', '-f', empty, '--force'])).code).toBe(2);
  });

  it('--prune makes the given set the whole set and says what it deleted', async () => {
    const dry = await cli(['apply', '-f', path.join(dir, 'a'), '--prune', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(/^UpstreamPolicy shop\/orders-upstreams deleted \(dry run\)$/m);
    expect(await keys()).toContain('UpstreamPolicy shop/orders-upstreams');
    const pruned = await cli(['apply', '-f', path.join(dir, 'a'), '--prune']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(pruned.stdout).toMatch(/^UpstreamPolicy shop\/orders-upstreams deleted$/m);
    expect(await keys()).toEqual(['AuthorizationPolicy default/payments-callers', 'TrafficPolicy default/payments-timeouts']);
  });

  it('a target naming no known service fails with file:line:column and a suggestion, and the ALLOW rule stays', async () => {
    const typo = await file('typo/authz.yaml', AUTHZ('paymnets'));
    const result = await cli(['apply', '-f', typo]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${typo}:6:11: spec.target: unknown service "default/paymnets" (did you mean "payments"?)`);
    expect(result.stderr.trim().split('\n').at(-1)).toMatch(/^accord: INVALID_ARGUMENT: 1 problem\(s\) in the policy documents; nothing applied$/);
    const authz = (await listing()).documents.find((d) => d.metadata.name === 'payments-callers');
    expect(authz?.spec.target).toBe('payments');

    // A caller that names nothing known gets the same treatment.
    const caller = await file('typo/caller.yaml', AUTHZ('payments').replace('service: orders', 'service: ordrs'));
    const callerResult = await cli(['apply', '-f', caller]);
    expect(callerResult.code).toBe(1);
    expect(callerResult.stderr).toContain(`${caller}:8:25: spec.rules[0].from[0].service: unknown service "default/ordrs" (did you mean "orders"?)`);

    // Said to be intended: by annotation, or by flag.
    const annotated = await file('typo/annotated.yaml', AUTHZ('later', '  annotations: { accord.dev/allow-unknown-targets: "true" }\n').replace('payments-callers', 'later-callers'));
    const accepted = await cli(['apply', '-f', annotated]);
    expect(accepted.code, accepted.stderr).toBe(0);
    const flagged = await file('typo/flagged.yaml', AUTHZ('future').replace('payments-callers', 'future-callers'));
    expect((await cli(['apply', '-f', flagged])).code).toBe(1);
    const withFlag = await cli(['apply', '-f', flagged, '--allow-unknown-targets']);
    expect(withFlag.code, withFlag.stderr).toBe(0);
    expect((await cli(['delete', '-f', annotated, '-f', flagged])).code).toBe(0);
  });

  it('a Mesh asking for another trust domain fails the apply with the reason', async () => {
    const mesh = await file('mesh/mesh.yaml', 'apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\nspec:\n  trustDomain: prod.example\n');
    const result = await cli(['apply', '-f', mesh]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${mesh}:5:16: spec.trustDomain: the CA serves trust domain "mesh.local"`);
    expect((await listing()).documents.some((d) => d.kind === 'Mesh')).toBe(false);
  });

  it('a failed dry run leaves the readiness detail (/v1/status) alone and logs no rejection', async () => {
    const policyStatus = async (): Promise<unknown> =>
      ((await (await fetch(`${server.http}/v1/status`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).json()) as { checks: { policies: unknown } }).checks.policies;
    const readyBefore = await policyStatus();
    expect(readyBefore).toMatchObject({ ok: true, detail: { rejectedChanges: expect.any(Number) } });
    const logLines = server.output.join('').split('\n').length;
    const typo = path.join(dir, 'typo/authz.yaml');
    const dry = await cli(['apply', '-f', typo, '--dry-run']);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain('did you mean "payments"?');
    expect(await policyStatus()).toEqual(readyBefore);
    expect(server.output.join('').split('\n').slice(logLines - 1).join('\n')).not.toContain('previous policy stays in force');

    // The real apply is counted and logged.
    expect((await cli(['apply', '-f', typo])).code).toBe(1);
    await waitFor(async () => (server.output.join('').includes('policy change rejected; the previous policy stays in force') ? true : undefined), 10_000, 'the rejection in the log');
  });

  it('delete removes explicitly: by kind and name, or by the documents of a file', async () => {
    const byName = await cli(['delete', 'trafficpolicy', 'payments-timeouts']);
    expect(byName.code, byName.stderr).toBe(0);
    expect(byName.stdout).toMatch(/^TrafficPolicy default\/payments-timeouts deleted$/m);
    const missing = await cli(['delete', 'trafficpolicy', 'payments-timeouts']);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('accord: NOT_FOUND: not in force: TrafficPolicy default/payments-timeouts; nothing deleted');
    expect((await cli(['delete', 'trafficpolicy', 'payments-timeouts', '--ignore-not-found'])).code).toBe(0);

    const orders = path.join(dir, 'b/orders.yaml');
    expect((await cli(['apply', '-f', orders])).code).toBe(0);
    const byFile = await cli(['delete', '-f', orders, '-o', 'json']);
    expect(byFile.code, byFile.stderr).toBe(0);
    expect(JSON.parse(byFile.stdout)).toMatchObject({ applied: true, changes: [{ kind: 'UpstreamPolicy', namespace: 'shop', name: 'orders-upstreams', action: 'deleted' }] });
    expect(await keys()).toEqual(['AuthorizationPolicy default/payments-callers']);

    expect((await cli(['delete', 'frobnicator', 'x'])).code).toBe(2);
    expect((await cli(['delete'])).code).toBe(2);
  });
});

describe('accord apply against accord serve --config DIR', () => {
  let server: AccordProcess;
  let dir: string;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN });

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-cli-config-'));
    await writeFile(path.join(dir, 'timeouts.yaml'), TIMEOUTS);
    server = await AccordProcess.start(['--config', dir]);
  });
  afterAll(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('the directory stays the whole truth: apply and its dry run both answer CONFLICT', async () => {
    const policy = path.join(dir, 'timeouts.yaml');
    const real = await cli(['apply', '-f', policy]);
    const dry = await cli(['apply', '-f', policy, '--dry-run']);
    expect(real.code).toBe(1);
    expect(dry.code).toBe(1);
    expect(real.stderr).toMatch(/^accord: CONFLICT: policies are managed by --config .*; change the files there\n$/);
    expect(dry.stderr).toBe(real.stderr);
    expect((await cli(['delete', 'trafficpolicy', 'payments-timeouts'])).stderr).toBe(real.stderr);
  });

  it('files may name services that are not registered yet: applied, with a warning in /v1/status', async () => {
    const ready = await waitFor(
      async () => {
        const body = (await (await fetch(`${server.http}/v1/status`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).json()) as { checks: { policies: { detail: { warnings?: string[] } } } };
        return body.checks.policies.detail.warnings;
      },
      10_000,
      'the warning',
    );
    expect(ready.join('\n')).toMatch(/timeouts\.yaml:5:11: spec\.target: unknown service "default\/payments"/);
    const listed = await cli(['policies']);
    expect(listed.stdout).toMatch(/^TrafficPolicy\s+default\s+payments-timeouts\s+payments\s+\d+$/m);
    expect(listed.stdout).toContain(`managed by serve --config ${dir}`);
  });
});
