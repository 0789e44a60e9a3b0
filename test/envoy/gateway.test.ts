/**
 * An ingress gateway through real Envoy: Accord translates a Gateway and its HTTPRoutes for a
 * gateway workload, Envoy accepts every resource, terminates HTTPS with the certificate SNI
 * picks, answers unmatched paths 404 and redirects itself, and a user certificate replaced on
 * disk (by rename) is served on new connections without a control-plane change.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { documentsToJson, parsePolicyStream } from '../../src/config/index.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { startTestAccord, type TestAccord } from '../app/harness.js';
import { waitFor } from '../e2e/processes.js';
import { workloadFrom } from '../mesh/support/scenario.js';
import { ENVOY_TEST_TIMEOUT_MS, ENVOY_WAIT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { freePort } from '../support/grpc-xds-process.js';
import { envoyBootstrapFor, waitForRevision } from '../support/scenario-accord.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

function policies(port: number): string {
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: edge, namespace: shop }
spec:
  gatewayClassName: accord
  listeners:
    - { name: shop, hostname: shop.example.com, port: ${port}, protocol: HTTPS, tls: { certificateRefs: [{ name: shop-cert }] } }
    - { name: api, hostname: api.example.com, port: ${port}, protocol: HTTPS, tls: { certificateRefs: [{ name: api-cert }] } }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: shop, namespace: shop }
spec:
  parentRefs: [{ name: edge }]
  hostnames: [shop.example.com, api.example.com]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /orders } }]
      backendRefs: [{ name: orders, weight: 90 }, { name: payments, weight: 10 }]
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /orders }, statusCode: 301 }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-gateway, value: edge }] }
`;
}

/** A self-signed certificate for `host` written as `<dir>/tls.crt` and `tls.key`, replaced by rename. */
function writeCertificate(dir: string, host: string): void {
  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(path.join(dir, '..', '.staging-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
    '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}`,
    '-keyout', path.join(staging, 'tls.key'), '-out', path.join(staging, 'tls.crt'),
  ], { stdio: 'ignore' });
  // Key first, then the chain: Envoy reloads the pair when a file is moved into the watched directory.
  renameSync(path.join(staging, 'tls.key'), path.join(dir, 'tls.key'));
  renameSync(path.join(staging, 'tls.crt'), path.join(dir, 'tls.crt'));
  rmSync(staging, { recursive: true, force: true });
}

function servedCertificate(port: number, servername: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const certificate = socket.getPeerCertificate();
      socket.end();
      resolve(certificate);
    });
    socket.once('error', reject);
  });
}

function get(port: number, host: string, pathname: string): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername: host, path: pathname, headers: { host }, rejectUnauthorized: false, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('ingress gateway through real Envoy', () => {
  const fleet = useEnvoyFleet();
  let accord: TestAccord;
  let envoy: TestEnvoy;
  let port: number;
  const certs = mkdtempSync(path.join(tmpdir(), 'accord-gateway-certs-'));

  beforeAll(async () => {
    port = await freePort();
    writeCertificate(path.join(certs, 'shop', 'shop-cert'), 'shop.example.com');
    writeCertificate(path.join(certs, 'shop', 'api-cert'), 'api.example.com');
    accord = await startTestAccord({ trustDomain: 'mesh.local' });
    const gateway = { ...workloadFrom({ id: 'edge-1', service: 'edge', namespace: 'shop', address: '127.0.0.1', port: await freePort() }), gateway: { certificateDirectory: certs } };
    for (const workload of [
      gateway,
      workloadFrom({ id: 'orders-1', service: 'orders', namespace: 'shop', address: '127.0.0.1', port: await freePort() }),
      workloadFrom({ id: 'payments-1', service: 'payments', namespace: 'shop', address: '127.0.0.1', port: await freePort() }),
    ]) {
      await accord.handle.store.putWorkload(workload);
    }
    const loaded = parsePolicyStream(policies(port), 'gateway.yaml');
    if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
    await waitForRevision(accord, await accord.handle.store.putPolicies(documentsToJson(loaded.documents)));
    envoy = await fleet.start('gateway-edge', await envoyBootstrapFor(accord, 'edge-1'));
  });
  afterAll(async () => {
    await fleet.stopAll();
    await accord?.close();
    rmSync(certs, { recursive: true, force: true });
  });

  it('accepts every resource: the HTTPS listener active, the user certificates and its mesh certificate warmed', async () => {
    await envoy.waitUntilSynced({
      [TypeUrl.Listener]: [`gateway_${port}`],
      [TypeUrl.Cluster]: ['outbound.orders.shop', 'outbound.payments.shop'],
      [TypeUrl.Secret]: ['ROOTCA', 'default', 'gateway/shop/api-cert', 'gateway/shop/shop-cert'],
    });
    expect(await envoy.rejectedUpdates()).toEqual({});
    expect(envoy.rejectionsInLog()).toEqual([]);
    const uris = (await envoy.admin.certs()).flatMap((cert) => (cert.cert_chain ?? []).flatMap((c) => (c.subject_alt_names ?? []).map((san) => san.uri)));
    expect(uris).toContain('spiffe://mesh.local/ns/shop/sa/edge');
  });

  it('SNI picks the certificate of each host name', async () => {
    expect((await servedCertificate(port, 'shop.example.com')).subject.CN).toBe('shop.example.com');
    expect((await servedCertificate(port, 'api.example.com')).subject.CN).toBe('api.example.com');
  });

  it('answers an unmatched path 404, and redirects with an added header', async () => {
    expect((await get(port, 'shop.example.com', '/nothing-here')).status).toBe(404);
    const redirect = await get(port, 'shop.example.com', '/old/list');
    expect(redirect.status).toBe(301);
    expect(String(redirect.headers.location)).toMatch(/^https:\/\/shop\.example\.com(:\d+)?\/orders\/list$/);
    expect(redirect.headers['x-gateway']).toBe('edge');
  });

  it('serves a replaced certificate file on new connections, without a control-plane change', async () => {
    const before = await servedCertificate(port, 'shop.example.com');
    writeCertificate(path.join(certs, 'shop', 'shop-cert'), 'shop.example.com');
    const started = Date.now();
    const after = await waitFor(
      async () => {
        const served = await servedCertificate(port, 'shop.example.com');
        if (served.serialNumber === before.serialNumber) throw new Error(`still serial ${served.serialNumber}`);
        return served;
      },
      ENVOY_WAIT_MS,
      'the new certificate served',
    );
    console.log(`user certificate rotated: serial ${before.serialNumber} → ${after.serialNumber} on new connections after ${Date.now() - started} ms`);
    expect(after.subject.CN).toBe('shop.example.com');
  });
});
