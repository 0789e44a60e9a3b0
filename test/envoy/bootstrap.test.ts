/**
 * `accord bootstrap --format envoy`, exactly as the CLI prints it, run by real Envoy against a
 * real `accord serve`: SotW and Delta, with and without TLS on the xDS port. Each passes
 * `envoy --mode validate`, then connects with its workload token, authenticates the control
 * plane by its SPIFFE ID when TLS is on, and receives its configuration and certificate.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parse, stringify } from 'yaml';
import { validateBootstrap } from '../../src/envoy/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { AccordProcess, CLI, OPERATOR_TOKEN, waitFor } from '../e2e/processes.js';
import { ENVOY_TEST_TIMEOUT_MS, testEnvoyBinary, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { freeListenPorts } from '../support/relocate-ports.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

const XDS_SPIFFE_ID = 'spiffe://mesh.local/ns/accord-system/sa/accord';
const ORDERS_SPIFFE_ID = 'spiffe://mesh.local/ns/default/sa/orders';

function cli(args: string[], server: AccordProcess): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN } }, (error, stdout, stderr) =>
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Prometheus text → the sum of a metric's samples matching the label filter. */
async function metric(server: AccordProcess, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${server.http}/metrics`)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe.each([
  { tls: false, label: 'plaintext xDS' },
  { tls: true, label: 'xDS over TLS' },
])('accord bootstrap --format envoy with $label', ({ tls }) => {
  const fleet = useEnvoyFleet();
  let accord: AccordProcess;
  let ordersId: string;
  let ports: { mesh: number; app: number; upstream: number; paymentsMesh: number };
  let caBundle: string;
  const envoys = new Map<string, TestEnvoy>();

  beforeAll(async () => {
    const [mesh, app, upstream, paymentsMesh] = await freeListenPorts(4);
    ports = { mesh, app, upstream, paymentsMesh };
    accord = await AccordProcess.start(tls ? ['--xds-tls'] : []);
    const orders = await accord.request('POST', '/v1/workloads', {
      service: 'orders',
      address: '127.0.0.2',
      port: app,
      meshPort: mesh,
      upstreams: [{ service: 'payments', localPort: upstream }],
    });
    expect(orders.status).toBe(201);
    ordersId = (orders.body as { id: string }).id;
    const payments = await accord.request('POST', '/v1/workloads', { service: 'payments', address: '127.0.0.3', port: app, meshPort: paymentsMesh });
    expect(payments.status).toBe(201);
    caBundle = path.join(fleet.scratchDir('ca'), 'ca.pem');
    writeFileSync(caBundle, await (await fetch(`${accord.http}/v1/ca/bundle`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } })).text());
  });
  afterAll(async () => {
    await fleet.stopAll();
    await accord?.stop();
  });

  /** What `accord bootstrap` prints for orders, written to a file. */
  async function bootstrapFile(mode: 'sotw' | 'delta'): Promise<string> {
    const file = path.join(fleet.scratchDir(`bootstrap-${mode}`), 'envoy.yaml');
    const result = await cli(['bootstrap', '--workload', ordersId, '--format', 'envoy', '--ca-bundle', caBundle, ...(mode === 'delta' ? ['--delta'] : []), '--out', file], accord);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    return file;
  }

  function expectedConfig(): Record<string, string[]> {
    return {
      [TypeUrl.Listener]: [`inbound|${ports.mesh}`, `outbound|${ports.upstream}`],
      [TypeUrl.RouteConfiguration]: ['payments.default'],
      [TypeUrl.Cluster]: [`inbound|${ports.app}`, 'outbound.payments.default'],
      [TypeUrl.ClusterLoadAssignment]: [`inbound|${ports.app}`, 'outbound.payments.default'],
      [TypeUrl.Secret]: ['ROOTCA', 'default'],
    };
  }

  it.each(['sotw', 'delta'] as const)('%s: passes envoy --mode validate', async (mode) => {
    const file = await bootstrapFile(mode);
    const bootstrap = parse(readFileSync(file, 'utf8')) as { dynamic_resources: { ads_config: { api_type: string } } };
    expect(bootstrap.dynamic_resources.ads_config.api_type).toBe(mode === 'delta' ? 'DELTA_GRPC' : 'GRPC');
    const result = await validateBootstrap(testEnvoyBinary().path, file);
    expect(result, result.output).toMatchObject({ ok: true });
  });

  it.each(['sotw', 'delta'] as const)('%s: connects with its workload token and receives its config and certificate', async (mode) => {
    const envoy = await fleet.start(`bootstrap-${tls ? 'tls' : 'plain'}-${mode}`, readFileSync(await bootstrapFile(mode), 'utf8'));
    envoys.set(mode, envoy);
    await envoy.waitUntilSynced(expectedConfig());
    expect(await envoy.rejectedUpdates()).toEqual({});

    const certs = await envoy.admin.certs();
    const leafUris = certs.flatMap((c) => (c.cert_chain ?? []).flatMap((cert) => (cert.subject_alt_names ?? []).map((san) => san.uri)));
    expect(leafUris).toContain(ORDERS_SPIFFE_ID);
    expect(certs.some((c) => (c.ca_cert ?? []).length > 0)).toBe(true);

    const { proxies } = (await accord.request('GET', '/v1/proxies')).body as { proxies: { nodeId: string; types: { mode: string }[] }[] };
    expect(proxies.filter((p) => p.nodeId === ordersId).flatMap((p) => p.types.map((t) => t.mode))).toContain(mode);

    const ssl = await envoy.admin.stats('^cluster\\.accord-xds\\.ssl\\.(handshake|fail_verify_san)$');
    if (tls) {
      // Envoy checked the control plane's certificate against the CA file and its SPIFFE ID.
      expect(ssl.get('cluster.accord-xds.ssl.handshake')).toBeGreaterThan(0);
      expect(ssl.get('cluster.accord-xds.ssl.fail_verify_san')).toBe(0);
    } else {
      expect(ssl.get('cluster.accord-xds.ssl.handshake') ?? 0).toBe(0);
    }
  });

  it('finds the control plane by name: a hostname in --xds gives a STRICT_DNS cluster that validates and connects', async () => {
    const file = path.join(fleet.scratchDir('bootstrap-dns'), 'envoy.yaml');
    const result = await cli(['bootstrap', '--workload', ordersId, '--format', 'envoy', '--ca-bundle', caBundle, '--xds', `localhost:${accord.xdsPort}`, '--out', file], accord);
    expect(result, result.stderr).toMatchObject({ code: 0 });
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('type: STRICT_DNS');
    expect(await validateBootstrap(testEnvoyBinary().path, file)).toMatchObject({ ok: true });
    const envoy = await fleet.start(`bootstrap-${tls ? 'tls' : 'plain'}-dns`, text);
    await envoy.waitUntilSynced(expectedConfig());
    expect(await envoy.rejectedUpdates()).toEqual({});
  });

  it('refuses an Envoy whose bootstrap carries a forged token: it gets no configuration', async () => {
    const bootstrap = parse(readFileSync(await bootstrapFile('sotw'), 'utf8')) as { dynamic_resources: { ads_config: { grpc_services: { initial_metadata: { value: string }[] }[] } } };
    const header = bootstrap.dynamic_resources.ads_config.grpc_services[0].initial_metadata[0];
    const [headerPart, , signature] = header.value.replace(/^Bearer /, '').split('.');
    header.value = `Bearer ${headerPart}.${Buffer.from(JSON.stringify({ sub: ordersId })).toString('base64url')}.${signature}`;
    const refusedBefore = await metric(accord, 'accord_stream_auth_denied_total');
    const envoy = await fleet.start(`bootstrap-${tls ? 'tls' : 'plain'}-forged`, stringify(bootstrap));
    await waitFor(async () => ((await metric(accord, 'accord_stream_auth_denied_total')) > refusedBefore ? true : undefined), 60_000, 'Accord to refuse the forged token');
    // Envoy's own account: its ADS stream ended UNAUTHENTICATED (16), with Accord's reason.
    await envoy.waitFor('Envoy to see its stream refused', async () =>
      /config stream to accord-xds closed: 16, workload%20token%20rejected/.test(envoy.process.log()) ? true : undefined,
    );
    const view = await envoy.dump();
    expect(view.active.get(TypeUrl.Listener)?.size ?? 0).toBe(0);
    expect(view.active.get(TypeUrl.Cluster)?.size ?? 0).toBe(0);
    expect(view.active.get(TypeUrl.Secret)?.size ?? 0).toBe(0);
  });

  if (tls) {
    it('will not talk to a control plane whose SPIFFE ID is not the one in its bootstrap', async () => {
      const file = await bootstrapFile('sotw');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(XDS_SPIFFE_ID);
      const envoy = await fleet.start('bootstrap-tls-wrong-san', text.replace(XDS_SPIFFE_ID, 'spiffe://mesh.local/ns/accord-system/sa/impostor'));
      await envoy.waitFor('a TLS handshake refused for its SAN', async () => {
        const stats = await envoy.admin.stats('^cluster\\.accord-xds\\.ssl\\.fail_verify_san$');
        return (stats.get('cluster.accord-xds.ssl.fail_verify_san') ?? 0) > 0 ? true : undefined;
      });
      const view = await envoy.dump();
      expect(view.active.get(TypeUrl.Listener)?.size ?? 0).toBe(0);
      expect(view.active.get(TypeUrl.Secret)?.size ?? 0).toBe(0);
    });
  }
});
