/**
 * An ingress gateway through real Envoy, end to end: HTTPS from a client to the gateway (two host
 * names, SNI picking each one's certificate), path routing to mesh services behind their own
 * Envoy sidecars over mTLS as the gateway's identity, a 90/10 weighted split, 404 for unmatched
 * paths, a redirect, added headers, a service whose AuthorizationPolicy does not allow the gateway
 * answering 403, and both of the gateway's certificates rotated under load with no failed request:
 * the user certificate replaced on disk, and its mesh certificate renewed by Accord.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, type PeerCertificate } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { TypeUrl } from '../../src/xds/contract.js';
import { api, startTestAccord, type TestAccord } from '../app/harness.js';
import { ENVOY_TEST_TIMEOUT_MS, ENVOY_WAIT_MS, useEnvoyFleet, type TestEnvoy } from '../support/envoy.js';
import { freeListenPorts } from '../support/relocate-ports.js';
import { envoyBootstrapFor } from '../support/scenario-accord.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

const SERVICES = ['orders', 'payments', 'ledger'] as const;

function policies(port: number): string {
  return `
apiVersion: accord.dev/v1
kind: Mesh
metadata: { name: default }
spec:
  mtls: STRICT
  certificates: { ttl: 12s, rotateAt: 0.5, jitter: 0.1 }
---
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
  parentRefs: [{ name: edge, sectionName: shop }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /orders } }]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: { add: [{ name: x-entry, value: edge }] }
      backendRefs: [{ name: orders }]
    - matches: [{ path: { type: PathPrefix, value: /payments } }]
      backendRefs: [{ name: payments }]
    - matches: [{ path: { type: PathPrefix, value: /split } }]
      backendRefs: [{ name: orders, weight: 90 }, { name: payments, weight: 10 }]
    - matches: [{ path: { type: PathPrefix, value: /ledger } }]
      backendRefs: [{ name: ledger }]
    - matches: [{ path: { type: PathPrefix, value: /old } }]
      filters:
        - type: RequestRedirect
          requestRedirect: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /orders }, statusCode: 301 }
        - type: ResponseHeaderModifier
          responseHeaderModifier: { add: [{ name: x-gateway, value: edge }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api, namespace: shop }
spec:
  parentRefs: [{ name: edge, sectionName: api }]
  hostnames: [api.example.com]
  rules:
    - backendRefs: [{ name: payments }]
---
apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: orders-callers, namespace: shop }
spec:
  target: orders
  rules: [{ from: [{ service: edge }] }]
---
apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: payments-callers, namespace: shop }
spec:
  target: payments
  rules: [{ from: [{ service: edge }] }]
---
apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: ledger-callers, namespace: shop }
spec:
  target: ledger
  rules: [{ from: [{ service: orders }] }]
`;
}

/** A self-signed certificate for `host` as `<dir>/tls.crt` and `tls.key`, each moved into place by rename. */
function writeCertificate(dir: string, host: string): void {
  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(path.join(dir, '..', '.staging-'));
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${host}`,
      '-addext', `subjectAltName=DNS:${host}`, '-keyout', path.join(staging, 'tls.key'), '-out', path.join(staging, 'tls.crt')],
    { stdio: 'ignore' },
  );
  // Key first, then the chain: Envoy reloads the pair whenever a file is moved into the watched directory.
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

interface Answer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One HTTPS request on a fresh connection (a new TLS handshake each time). */
function get(port: number, host: string, pathname: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, servername: host, path: pathname, headers: { host }, rejectUnauthorized: false, agent: false, timeout: 20_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.once('timeout', () => req.destroy(new Error('timed out')));
    req.once('error', reject);
    req.end();
  });
}

/** A request on a kept-alive connection of `agent`; says which socket carried it. */
function getOn(agent: Agent, port: number, host: string, pathname: string): Promise<{ status: number; socket: object }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, servername: host, path: pathname, headers: { host }, rejectUnauthorized: false, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket as object }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** Requests from `workers` concurrent clients until `stop()`; every non-200 or error counts as failed. */
function load(port: number, workers: number): { stop: () => Promise<{ ok: number; failed: number; reasons: string[] }> } {
  let running = true;
  let ok = 0;
  let failed = 0;
  const reasons: string[] = [];
  const loops = Array.from({ length: workers }, async (_, worker) => {
    while (running) {
      const host = worker % 2 === 0 ? 'shop.example.com' : 'api.example.com';
      try {
        const answer = await get(port, host, host === 'shop.example.com' ? '/orders' : '/');
        if (answer.status === 200) ok += 1;
        else {
          failed += 1;
          if (reasons.length < 10) reasons.push(`${host}: HTTP ${answer.status} ${answer.body.slice(0, 100)}`);
        }
      } catch (error) {
        failed += 1;
        if (reasons.length < 10) reasons.push(`${host}: ${(error as Error).message}`);
      }
    }
  });
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return { ok, failed, reasons };
    },
  };
}

async function poll<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = ENVOY_WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = (error as Error).message;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms ${last}`);
}

/** The serial of the mesh leaf (the one with a SPIFFE URI) the Envoy presents. */
async function meshLeafSerials(envoy: TestEnvoy): Promise<string[]> {
  const certs = await envoy.admin.certs();
  return [...new Set(certs.flatMap((c) => (c.cert_chain ?? []).filter((cert) => (cert.subject_alt_names ?? []).some((san) => san.uri)).map((cert) => cert.serial_number)))];
}

describe('ingress gateway through real Envoy', () => {
  const fleet = useEnvoyFleet();
  const apps: Server[] = [];
  const certs = mkdtempSync(path.join(tmpdir(), 'accord-gateway-certs-'));
  let accord: TestAccord;
  let gateway: TestEnvoy;
  let port: number;

  beforeAll(async () => {
    const ports = await freeListenPorts(8);
    const [gatewayPort, gatewayAdminless, ...rest] = ports as [number, number, ...number[]];
    port = gatewayPort;
    writeCertificate(path.join(certs, 'shop', 'shop-cert'), 'shop.example.com');
    writeCertificate(path.join(certs, 'shop', 'api-cert'), 'api.example.com');
    accord = await startTestAccord();
    const applied = await api(accord, 'PUT', '/v1/policies?allowUnknownTargets=true', { yaml: policies(port) });
    expect(applied.status, applied.text).toBe(200);
    const register = async (body: Record<string, unknown>): Promise<string> => {
      const response = await api(accord, 'POST', '/v1/workloads', { body });
      expect(response.status, response.text).toBe(201);
      return (response.body as { id: string }).id;
    };
    const sidecars: Promise<TestEnvoy>[] = [];
    for (const [index, service] of SERVICES.entries()) {
      const appPort = rest[index * 2] as number;
      const meshPort = rest[index * 2 + 1] as number;
      const app = createServer((req, res) => res.end(JSON.stringify({ service, entry: req.headers['x-entry'] ?? null, path: req.url })));
      await new Promise<void>((resolve) => app.listen(appPort, '127.0.0.1', resolve));
      apps.push(app);
      const id = await register({ service, namespace: 'shop', address: '127.0.0.1', port: appPort, meshPort });
      sidecars.push(envoyBootstrapFor(accord, id).then((bootstrap) => fleet.start(`gateway-${service}`, bootstrap)));
    }
    const edge = await register({ service: 'edge', namespace: 'shop', address: '127.0.0.1', port: gatewayAdminless, gateway: { certificateDirectory: certs } });
    gateway = await fleet.start('gateway-edge', await envoyBootstrapFor(accord, edge));
    await Promise.all(sidecars);
    await gateway.waitUntilSynced({
      [TypeUrl.Listener]: [`gateway_${port}`],
      [TypeUrl.Cluster]: SERVICES.map((service) => `outbound.${service}.shop`),
      [TypeUrl.Secret]: ['ROOTCA', 'default', 'gateway/shop/api-cert', 'gateway/shop/shop-cert'],
    });
    // Every backend answers through its sidecar before the checks start.
    await poll('orders and payments reachable through the gateway', async () => {
      const answers = await Promise.all([get(port, 'shop.example.com', '/orders'), get(port, 'shop.example.com', '/payments')]);
      return answers.every((answer) => answer.status === 200) ? true : undefined;
    });
  });
  afterAll(async () => {
    await fleet.stopAll();
    await accord?.close();
    for (const app of apps) await new Promise((resolve) => app.close(resolve));
    rmSync(certs, { recursive: true, force: true });
  });

  it('accepts everything, and presents the gateway\'s own SPIFFE identity', async () => {
    expect(await gateway.rejectedUpdates()).toEqual({});
    expect(gateway.rejectionsInLog()).toEqual([]);
    // Its mesh certificate (the one with a URI SAN; the user certificates carry DNS names).
    const uris = (await gateway.admin.certs()).flatMap((cert) => (cert.cert_chain ?? []).flatMap((c) => (c.subject_alt_names ?? []).flatMap((san) => (san.uri ? [san.uri] : []))));
    expect(new Set(uris)).toEqual(new Set(['spiffe://mesh.local/ns/shop/sa/edge']));
  });

  it('SNI picks the certificate of each host name', async () => {
    expect((await servedCertificate(port, 'shop.example.com')).subject.CN).toBe('shop.example.com');
    expect((await servedCertificate(port, 'api.example.com')).subject.CN).toBe('api.example.com');
  });

  it('routes by host and path to two services, adds a request header, answers 404 and redirects', async () => {
    const orders = await get(port, 'shop.example.com', '/orders/42');
    expect(orders.status).toBe(200);
    expect(JSON.parse(orders.body)).toEqual({ service: 'orders', entry: 'edge', path: '/orders/42' });
    expect(JSON.parse((await get(port, 'shop.example.com', '/payments')).body)).toMatchObject({ service: 'payments', entry: null });
    expect(JSON.parse((await get(port, 'api.example.com', '/anything')).body)).toMatchObject({ service: 'payments' });
    // Whole path segments: /ordersx is no /orders.
    expect((await get(port, 'shop.example.com', '/ordersx')).status).toBe(404);
    expect((await get(port, 'shop.example.com', '/nothing-here')).status).toBe(404);
    const redirect = await get(port, 'shop.example.com', '/old/list');
    expect(redirect.status).toBe(301);
    expect(String(redirect.headers.location)).toMatch(/^https:\/\/shop\.example\.com(:\d+)?\/orders\/list$/);
    expect(redirect.headers['x-gateway']).toBe('edge');
  });

  it('splits /split 90/10 between orders and payments', async () => {
    const counts = { orders: 0, payments: 0, other: 0 };
    const total = 400;
    for (let batch = 0; batch < total / 20; batch++) {
      const answers = await Promise.all(Array.from({ length: 20 }, () => get(port, 'shop.example.com', '/split')));
      for (const answer of answers) {
        const service = answer.status === 200 ? (JSON.parse(answer.body) as { service: string }).service : 'other';
        if (service === 'orders' || service === 'payments') counts[service] += 1;
        else counts.other += 1;
      }
    }
    const share = counts.orders / total;
    console.log(`weighted split over ${total} requests: orders ${counts.orders} (${(share * 100).toFixed(1)} %), payments ${counts.payments}, failed ${counts.other}`);
    expect(counts.other).toBe(0);
    // p = 0.9, n = 400: the standard deviation is 1.5 %; ±4 of them.
    expect(share).toBeGreaterThan(0.84);
    expect(share).toBeLessThan(0.96);
  });

  it('a service whose AuthorizationPolicy does not allow the gateway answers 403', async () => {
    const denied = await get(port, 'shop.example.com', '/ledger');
    expect(denied.status).toBe(403);
  });

  it('a user certificate file replaced under load: 0 failed requests, an open connection kept, the new certificate on new connections', async () => {
    const before = await servedCertificate(port, 'shop.example.com');
    // One connection opened before the swap stays up and keeps serving after it.
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    const opened = await getOn(keepAlive, port, 'shop.example.com', '/orders');
    const traffic = load(port, 4);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    writeCertificate(path.join(certs, 'shop', 'shop-cert'), 'shop.example.com');
    const started = Date.now();
    const after = await poll('the new certificate served', async () => {
      const served = await servedCertificate(port, 'shop.example.com');
      return served.serialNumber !== before.serialNumber ? served : undefined;
    });
    const tookMs = Date.now() - started;
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const result = await traffic.stop();
    const afterSwap = await getOn(keepAlive, port, 'shop.example.com', '/orders');
    keepAlive.destroy();
    expect([opened.status, afterSwap.status]).toEqual([200, 200]);
    expect(afterSwap.socket).toBe(opened.socket);
    console.log(
      `user certificate replaced under load: ${result.ok} requests OK, ${result.failed} failed; serial ${before.serialNumber} → ${after.serialNumber} on new connections after ${tookMs} ms`,
    );
    expect(result.reasons).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(0);
    expect(after.subject.CN).toBe('shop.example.com');
  });

  it('the gateway\'s mesh certificate rotated under load: 0 failed requests', async () => {
    const [first] = await meshLeafSerials(gateway);
    const traffic = load(port, 4);
    // 12 s certificates rotate at about 6 s.
    const rotated = await poll('a rotated mesh certificate on the gateway', async () => {
      const now = await meshLeafSerials(gateway);
      return now.length === 1 && now[0] !== first ? now[0] : undefined;
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const result = await traffic.stop();
    console.log(`gateway mesh certificate rotated under load (${first} → ${rotated}): ${result.ok} requests OK, ${result.failed} failed`);
    expect(result.reasons).toEqual([]);
    expect(result.failed).toBe(0);
    expect(result.ok).toBeGreaterThan(0);
  });
});
