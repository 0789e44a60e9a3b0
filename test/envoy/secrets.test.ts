/**
 * Every shape of secret and every secret-driven config change Accord sends, judged by real Envoy:
 * leaf rotations (short-lived certificates), a CRL in the trust bundle after revocations (and the
 * DENY rules revoked callers get), and a full root rotation P0–P4 whose gates wait for Envoy's own
 * ACKs. Envoy must reject nothing, and orders → payments over mTLS must keep answering.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { api, startTestAccord, type TestAccord } from '../app/harness.js';
import { ENVOY_TEST_TIMEOUT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { httpGet, RequestLoop } from '../support/envoy-traffic.js';
import { freeListenPorts } from '../support/relocate-ports.js';
import { envoyBootstrapFor } from '../support/scenario-accord.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

const MESH = `apiVersion: accord.dev/v1
kind: Mesh
metadata: { name: default }
spec:
  mtls: STRICT
  certificates: { ttl: 12s, rotateAt: 0.5, jitter: 0.1 }
`;

/** The serial of the certificate Envoy presents, and the serials of the CAs it trusts. */
async function certificates(envoy: TestEnvoy): Promise<{ leaf: string[]; cas: string[] }> {
  const certs = await envoy.admin.certs();
  return {
    // Every TLS context (inbound listener, outbound clusters) lists the same leaf.
    leaf: [...new Set(certs.flatMap((c) => (c.cert_chain ?? []).filter((cert) => (cert.subject_alt_names ?? []).some((san) => san.uri)).map((cert) => cert.serial_number)))],
    cas: [...new Set(certs.flatMap((c) => (c.ca_cert ?? []).map((cert) => cert.serial_number)))].sort(),
  };
}

describe('secrets through real Envoy: leaf rotation, CRLs, root rotation', () => {
  const fleet = useEnvoyFleet();
  let accord: TestAccord;
  let app: Server;
  let upstream: number;
  let intruder: string;
  let paymentsMeshPort: number;
  const envoys = new Map<string, TestEnvoy>();

  async function expectAllAccepted(): Promise<void> {
    for (const [name, envoy] of envoys) {
      expect(await envoy.rejectedUpdates(), name).toEqual({});
      expect(envoy.rejectionsInLog(), name).toEqual([]);
    }
  }

  async function callPayments(): Promise<void> {
    const answer = await httpGet(upstream, { fresh: true });
    expect(answer, JSON.stringify(answer)).toMatchObject({ status: 200, body: 'payments' });
  }

  beforeAll(async () => {
    const [paymentsApp, paymentsMesh, ordersMesh, orderUpstream, intruderMesh] = await freeListenPorts(5);
    upstream = orderUpstream;
    paymentsMeshPort = paymentsMesh;
    app = createServer((_req, res) => res.end('payments'));
    await new Promise<void>((resolve) => app.listen(paymentsApp, '127.0.0.1', resolve));
    accord = await startTestAccord();
    expect((await api(accord, 'PUT', '/v1/policies', { yaml: MESH })).status).toBe(200);
    const register = async (body: Record<string, unknown>): Promise<string> => {
      const response = await api(accord, 'POST', '/v1/workloads', { body });
      expect(response.status, response.text).toBe(201);
      return (response.body as { id: string }).id;
    };
    const payments = await register({ service: 'payments', address: '127.0.0.3', port: paymentsApp, meshPort: paymentsMesh });
    const orders = await register({ service: 'orders', address: '127.0.0.2', port: 18_082, meshPort: ordersMesh, upstreams: [{ service: 'payments', localPort: orderUpstream }] });
    intruder = await register({ service: 'intruder', address: '127.0.0.4', port: 18_083, meshPort: intruderMesh });
    const [p, o] = await Promise.all([
      envoyBootstrapFor(accord, payments, { delta: true }).then((b) => fleet.start('secrets-payments-delta', b)),
      envoyBootstrapFor(accord, orders).then((b) => fleet.start('secrets-orders-sotw', b)),
    ]);
    envoys.set('payments', p);
    envoys.set('orders', o);
    await p.waitUntilSynced({ [TypeUrl.Listener]: [`inbound|${paymentsMesh}`], [TypeUrl.Secret]: ['ROOTCA', 'default'] });
    await o.waitUntilSynced({ [TypeUrl.Listener]: [`inbound|${ordersMesh}`, `outbound|${orderUpstream}`], [TypeUrl.Secret]: ['ROOTCA', 'default'] });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await accord?.close();
    await new Promise((resolve) => app?.close(resolve));
  });

  it('rotates leaf certificates: Envoy takes each new one and keeps serving with it', async () => {
    await callPayments();
    for (const [name, envoy] of envoys) {
      const first = (await certificates(envoy)).leaf;
      expect(first, name).toHaveLength(1);
      // 12 s certificates rotate at about 6 s.
      await envoy.waitFor('a rotated leaf certificate', async () => {
        const now = (await certificates(envoy)).leaf;
        return now.length === 1 && now[0] !== first[0] ? now : undefined;
      });
    }
    await callPayments();
    await expectAllAccepted();
  });

  it('callers retire pooled connections before the destination caps them, so no request meets a closing connection', async () => {
    // 12 s certificates: payments caps inbound connections at 4 s, orders retires its own at 3 s.
    // When the destination closes a kept-alive HTTP/1.1 connection, a request the caller is
    // writing into it at that moment fails with a 503 ("connection termination").
    const counter = async (envoy: TestEnvoy, name: string): Promise<number> => (await envoy.admin.stats(name)).get(name) ?? 0;
    const callerCapped = `cluster.outbound.payments.default.upstream_cx_max_duration_reached`;
    const destinationCapped = `http.inbound_${paymentsMeshPort}.downstream_cx_max_duration_reached`;
    const [callerBefore, destinationBefore] = [await counter(envoys.get('orders')!, callerCapped), await counter(envoys.get('payments')!, destinationCapped)];
    const loop = new RequestLoop([upstream], (answer) => answer.status === 200 && answer.body === 'payments', 200);
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    await loop.stop();
    expect(loop.failures).toEqual([]);
    expect(loop.ok).toBeGreaterThan(0);
    expect(await counter(envoys.get('orders')!, callerCapped)).toBeGreaterThan(callerBefore);
    expect(await counter(envoys.get('payments')!, destinationCapped)).toBe(destinationBefore);
  });

  it('publishes a CRL and DENY rules for revoked callers; Envoy accepts both and valid peers still connect', async () => {
    const before = await envoys.get('orders')!.dump();
    const rootBefore = before.active.get(TypeUrl.Secret)!.get('ROOTCA')!;
    expect((await api(accord, 'POST', '/v1/ca/revoke', { body: { workload: intruder } })).status).toBe(200);
    expect((await api(accord, 'POST', '/v1/ca/revoke', { body: { serial: '7e57c0ffee' } })).status).toBe(200);
    for (const [name, envoy] of envoys) {
      const view = await envoy.waitFor(`${name}: a trust bundle carrying a CRL with the revoked serial`, async () => {
        const dump = await envoy.dump();
        const root = dump.active.get(TypeUrl.Secret)?.get('ROOTCA');
        const context = root?.resource.validation_context as { crl?: { inline_string?: string }; only_verify_leaf_cert_crl?: boolean } | undefined;
        return root && root.version !== rootBefore.version && context?.crl?.inline_string?.includes('BEGIN X509 CRL') ? { dump, context } : undefined;
      });
      expect(view.context.only_verify_leaf_cert_crl, name).toBe(true);
    }
    // The inbound listeners now deny the revoked caller by name.
    await envoys.get('payments')!.waitFor('the revoked caller in the inbound RBAC rules', async () => {
      const dump = await envoys.get('payments')!.dump();
      return JSON.stringify([...dump.active.get(TypeUrl.Listener)!.values()].map((l) => l.resource)).includes('spiffe://mesh.local/ns/default/sa/intruder') ? true : undefined;
    });
    await callPayments();
    await expectAllAccepted();
  });

  it('rotates the root P0–P4, each gate passed on Envoy\'s own ACKs, and ends trusting only the new root', async () => {
    const trustedBefore = (await certificates(envoys.get('orders')!)).cas;
    expect(trustedBefore).toHaveLength(1);
    expect((await api(accord, 'POST', '/v1/ca/rotate', { body: {} })).status).toBe(200);
    const phases = new Set<string>();
    await envoys.get('orders')!.waitFor('the root rotation to finish', async () => {
      const phase = ((await api(accord, 'GET', '/v1/ca')).body as { rootRotation: { phase: string } }).rootRotation.phase;
      phases.add(phase);
      return phase === 'P4_RETIRED' ? true : undefined;
    });
    for (const [name, envoy] of envoys) {
      const trusted = await envoy.waitFor(`${name}: only the new root trusted`, async () => {
        const { cas } = await certificates(envoy);
        return cas.length === 1 && cas[0] !== trustedBefore[0] ? cas : undefined;
      });
      expect(trusted, name).toHaveLength(1);
    }
    await callPayments();
    await expectAllAccepted();
    console.log(`root rotation phases seen: ${[...phases].join(' → ')}`);
  });
});
