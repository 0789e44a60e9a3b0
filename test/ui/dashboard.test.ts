/**
 * The web dashboard (`/ui`) in a real headless Chromium (Debian's, driven by playwright-core)
 * against a real `accord serve` process: signing in (a wrong token is refused on screen), a service
 * registered while the page is open appearing without a reload, a denied caller in the graph, a
 * proxy's per-type sync state and certificate, a NACK reason holding markup shown as text, a refused
 * policy change, and a root rotation's phase and gate. Screenshots go to test-output/ui/ for review.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ack, nack } from '../support/ads-client.js';
import { AccordProcess, OPERATOR_TOKEN, waitFor } from '../e2e/processes.js';

const CHROMIUM = process.env.ACCORD_CHROMIUM ?? '/usr/bin/chromium';
const READ_TOKEN = 'dashboard-read-only-token-5f2c9';
const SHOTS = path.resolve(import.meta.dirname, '../../test-output/ui');
const ATTACK = '<img src=x onerror="window.__pwned=1">';
const POLICY = `apiVersion: accord.dev/v1
kind: AuthorizationPolicy
metadata: { name: payments-callers }
spec:
  target: payments
  action: ALLOW
  rules:
    - from: [{ service: web }]
`;

// Generous per-test bounds: each test waits for several 2 s polling rounds on a busy machine.
describe('the web dashboard in headless Chromium', { timeout: 120_000 }, () => {
  let accord: AccordProcess;
  let browser: Browser;
  let page: Page;
  const requested: string[] = [];
  const consoleErrors: string[] = [];
  let navigations = 0;
  const clients: XdsTestClient[] = [];
  const registered = new Map<string, { id: string; token: string }>();

  const api = async (method: string, url: string, body?: unknown, contentType = 'application/json'): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${accord.http}${url}`, {
      method,
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}`, ...(body === undefined ? {} : { 'content-type': contentType }) },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const register = async (service: string, address: string): Promise<{ id: string; token: string }> => {
    const answer = await api('POST', '/v1/workloads', { service, address, port: 8080 });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    const workload = answer.body as { id: string; token: string };
    registered.set(service, workload);
    return workload;
  };
  const shot = async (name: string): Promise<void> => {
    const file = path.join(SHOTS, `${name}.png`);
    await page.screenshot({ path: file, fullPage: true });
    console.log(`screenshot: ${file}`);
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: install it with "apt-get install -y chromium" (.ci/run does this)`);
    await mkdir(SHOTS, { recursive: true });
    accord = await AccordProcess.start(['--stale-after', '2s'], { ACCORD_API_READ_TOKEN: READ_TOKEN });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (request) => requested.push(request.url()));
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(String(error)));
    page.on('framenavigated', (frame) => {
      if (frame === page.mainFrame()) navigations++;
    });
  }, 90_000);
  afterAll(async () => {
    for (const client of clients) client.close();
    await browser?.close();
    await accord?.stop();
  });

  it('serves the page with a strict Content-Security-Policy and no data without a token', async () => {
    const response = await fetch(`${accord.http}/ui`);
    expect(response.status).toBe(200);
    const csp = response.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
    const script = await fetch(`${accord.http}/ui/main.js`);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${accord.http}/v1/proxy-status`)).status).toBe(401);
  });

  it('refuses a wrong token on screen, then signs in with the read-only token', async () => {
    await register('web', '10.9.0.1');
    await register('orders', '10.9.0.2');
    await register('payments', '10.9.0.3');
    // The mesh snapshot that validates policy targets follows the registry a moment later.
    await waitFor(
      async () => {
        const applied = await api('POST', '/v1/policies:apply', POLICY, 'application/yaml');
        return applied.status === 200 ? applied : undefined;
      },
      20_000,
      'the policy naming the registered services to be accepted',
    );

    await page.goto(`${accord.http}/ui`);
    await page.locator('#token').fill('not-the-token');
    await page.locator('#login-button').click();
    await page.locator('#login-error').waitFor({ state: 'visible', timeout: 15_000 });
    expect(await page.locator('#login-error').textContent()).toMatch(/Token not accepted \(HTTP 403/);
    expect(await page.locator('#dashboard').isHidden()).toBe(true);
    await shot('01-login-refused');

    await page.locator('#token').fill(READ_TOKEN);
    await page.locator('#login-button').click();
    await page.locator('#services tr[data-service="default/payments"]').waitFor({ timeout: 20_000 });
    expect(await page.locator('#login-error').isHidden()).toBe(true);
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('accord.operatorToken'))).toBe(READ_TOKEN);
  });

  it('shows a service registered while the page is open, without a reload', async () => {
    const before = navigations;
    expect(await page.locator('#services tr[data-service="default/inventory"]').count()).toBe(0);
    const started = Date.now();
    await register('inventory', '10.9.0.4');
    await page.locator('#services tr[data-service="default/inventory"]').waitFor({ timeout: 20_000 });
    console.log(`new service shown ${Date.now() - started} ms after it was registered`);
    expect(navigations).toBe(before);
    await page.locator('#workloads tr', { hasText: 'inventory' }).first().waitFor({ timeout: 20_000 });
  });

  it('draws the denied pair in the graph: payments allows web, not orders', async () => {
    const denied = page.locator('#access-graph line[data-from="default/orders"][data-to="default/payments"]');
    await denied.waitFor({ timeout: 20_000 });
    expect(await denied.getAttribute('data-access')).toBe('DENIED');
    expect(await denied.getAttribute('class')).toContain('edge-denied');
    const allowed = page.locator('#access-graph line[data-from="default/web"][data-to="default/payments"]');
    expect(await allowed.getAttribute('data-access')).toBe('ALLOWED');
    // No policy names web → orders: allowed by default, not drawn.
    expect(await page.locator('#access-graph line[data-to="default/orders"]').count()).toBe(0);
    const row = page.locator('#access-pairs tr[data-access="DENIED"]', { hasText: 'default/orders' });
    expect(await row.textContent()).toContain('default/orders');
    expect(await row.textContent()).toContain('AuthorizationPolicy default/payments-callers');
    await page.locator('#graph-view').scrollIntoViewIfNeeded();
    await shot('02-dashboard');
  });

  it("shows a proxy's per-type sync state, and a NACK reason with markup as text", async () => {
    const codec = new XdsCodec(loadEnvoyProtos());
    const payments = registered.get('payments') ?? { id: '', token: '' };
    const web = registered.get('web') ?? { id: '', token: '' };
    const node = (id: string): object => ({ id, user_agent_name: 'envoy', locality: { zone: 'z' } });

    const good = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${payments.token}` } });
    clients.push(good);
    const goodStream = good.sotw();
    goodStream.send({ node: node(payments.id), type_url: TypeUrl.Cluster, resource_names: [] });
    ack(goodStream, await goodStream.nextOfType(TypeUrl.Cluster, 15_000));
    goodStream.send({ type_url: TypeUrl.Secret, resource_names: ['default', 'ROOTCA'] });
    ack(goodStream, await goodStream.nextWhere((res) => res.type_url === TypeUrl.Secret && res.resources.length === 2, 15_000, 'both secrets'));

    const bad = new XdsTestClient(accord.xds, codec, { metadata: { authorization: `Bearer ${web.token}` } });
    clients.push(bad);
    const badStream = bad.sotw();
    badStream.send({ node: node(web.id), type_url: TypeUrl.Cluster, resource_names: [] });
    nack(badStream, await badStream.nextOfType(TypeUrl.Cluster, 15_000), '', `rejected cluster: ${ATTACK}`);

    const cds = page.locator(`#proxies tr[data-workload="${payments.id}"] td[data-type="CDS"]`);
    await expect.poll(async () => (await cds.count()) > 0 && (await cds.textContent()), { timeout: 30_000, interval: 250 }).toBe('SYNCED');
    expect(await page.locator(`#proxies tr[data-workload="${payments.id}"] td[data-type="LDS"]`).textContent()).toBe('NOT SENT');
    const badCds = page.locator(`#proxies tr[data-workload="${web.id}"] td[data-type="CDS"]`);
    await expect.poll(async () => (await badCds.count()) > 0 && (await badCds.textContent()), { timeout: 30_000, interval: 250 }).toBe('NACKED');

    // The attack: the reason a proxy sent is shown character for character, and nothing ran.
    const reason = page.locator(`#nacks tr[data-workload="${web.id}"] td.reason`);
    await reason.waitFor({ timeout: 20_000 });
    expect(await reason.textContent()).toBe(`rejected cluster: ${ATTACK}`);
    expect(await page.locator('#dashboard img').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    // Workload names cannot carry markup in the first place: the registry refuses them.
    const refused = await api('POST', '/v1/workloads', { service: ATTACK, address: '10.9.0.9', port: 8080 });
    expect(refused.status).toBe(400);
    // The certificate payments' proxy now holds, with its expiry.
    const leaf = page.locator(`#leaf-certs tr[data-workload="${payments.id}"]`);
    await leaf.waitFor({ timeout: 20_000 });
    expect(await leaf.textContent()).toMatch(/spiffe:\/\/mesh\.local\/ns\/default\/sa\/payments.*in \d+h/);
    await page.locator('#proxies-view').scrollIntoViewIfNeeded();
    await shot('03-proxies-and-nacks');
  });

  it('lists a refused policy change with its position and reason', async () => {
    const typo = POLICY.replace('name: payments-callers', 'name: payments-typo').replace('target: payments', 'target: paymnets');
    const refused = await api('POST', '/v1/policies:apply', typo, 'application/yaml');
    expect(refused.status).toBe(400);
    const errors = page.locator('#policy-errors li');
    await errors.first().waitFor({ timeout: 20_000 });
    const text = (await errors.allTextContents()).join('\n');
    console.log(`policy errors shown: ${text}`);
    expect(text).toMatch(/request:5:\d+/);
    expect(text).toContain('paymnets');
    expect(await page.locator('#problems-view').textContent()).toContain('Last change failed');
  });

  it('shows a root rotation under way: its phase and whom its gate waits for', async () => {
    expect(await page.locator('#rotation-phase').textContent()).toBe('none');
    const started = await api('POST', '/v1/ca/rotate');
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    await expect.poll(async () => page.locator('#rotation-phase').textContent(), { timeout: 20_000, interval: 250 }).toMatch(/^P\d/);
    // The page shows what the API says the gate waits for, entry for entry.
    const ca = (await api('GET', '/v1/ca')).body as { rootRotation: { phase: string; waitingFor: string[]; reason: string } };
    console.log(`rotation: ${JSON.stringify(ca.rootRotation)}`);
    await expect
      .poll(async () => (await page.locator('#rotation').textContent()) ?? '', { timeout: 20_000, interval: 250 })
      .toContain(ca.rootRotation.reason);
    // payments' proxy never ACKs the combined bundle here, so the gate keeps waiting for it.
    expect(ca.rootRotation.waitingFor).toContain(registered.get('payments')?.id);
    await expect
      .poll(async () => (await page.locator('#rotation ul.gates li').allTextContents()).sort(), { timeout: 20_000, interval: 250 })
      .toEqual([...ca.rootRotation.waitingFor].sort());
    await page.locator('#rotation-view').scrollIntoViewIfNeeded();
    await shot('04-rotation');
  });

  it('never puts the token in a URL or in the server log, and the page raised no error', async () => {
    expect(requested.length).toBeGreaterThan(10);
    for (const url of requested) {
      expect(url).not.toContain(READ_TOKEN);
      expect(url).not.toContain('not-the-token');
    }
    expect(accord.output.join('')).not.toContain(READ_TOKEN);
    // The wrong token was logged as a denial, without its value.
    expect(accord.output.join('')).toContain('operator token mismatch');
    expect(accord.output.join('')).not.toContain('not-the-token');
    const unexpected = consoleErrors.filter((text) => !/status of 40[13]/.test(text));
    expect(unexpected, unexpected.join('\n')).toEqual([]);
    console.log(`${requested.length} browser requests, none carrying the token; console errors besides the refused sign-in: ${unexpected.length}`);
    // Reload: the session keeps the token, the dashboard comes back without signing in again.
    await page.reload();
    await page.locator('#services tr[data-service="default/inventory"]').waitFor({ timeout: 20_000 });
    await page.locator('#logout').click();
    await page.locator('#login').waitFor({ state: 'visible', timeout: 10_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage.getItem('accord.operatorToken'))).toBeNull();
  });
});
