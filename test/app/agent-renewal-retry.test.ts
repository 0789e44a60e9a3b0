// An agent whose control plane stops answering around renewal time must try again before its
// certificate expires. A plain doubling backoff (1, 2, 4, 8 s ...) could sleep past the expiry and
// leave the workload without a valid certificate until the next try, up to --retry-max later.
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from '../../src/agent/agent.js';
import { silentLogger } from '../../src/observability/logger.js';
import { api, shortLivedMesh, startTestAccord, type TestAccord } from './harness.js';

/** A TCP forwarder to the control plane's HTTP port that can be shut: connections made while shut are reset at once. */
class Gate {
  open = true;
  refused = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(private readonly targetPort: number) {
    this.server = createServer((downstream) => {
      if (!this.open) {
        this.refused += 1;
        downstream.resetAndDestroy();
        return;
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const socket of [downstream, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      downstream.pipe(upstream).pipe(downstream);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  shut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.resetAndDestroy();
  }

  close(): Promise<void> {
    this.shut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

describe('agent certificate renewal retries', () => {
  let accord: TestAccord;
  let gate: Gate;
  let agent: Agent | undefined;
  let outDir = '';

  beforeAll(async () => {
    accord = await startTestAccord();
    expect((await api(accord, 'PUT', '/v1/policies', { yaml: shortLivedMesh('12s') })).status).toBe(200);
    gate = new Gate(accord.handle.httpPort);
    outDir = await mkdtemp(path.join(tmpdir(), 'accord-agent-retry-'));
  });
  afterAll(async () => {
    await agent?.close();
    await gate.close();
    await accord.close();
    await rm(outDir, { recursive: true, force: true });
  });

  it('a control plane that answers again before the certificate expires is asked again in time', async () => {
    const registered = await api(accord, 'POST', '/v1/workloads', { body: { service: 'orders', address: '127.0.0.1', port: 9001, protocol: 'grpc' } });
    expect(registered.status).toBe(201);
    const { token } = registered.body as { token: string };
    const server = await gate.listen();
    // Backoff 1, 2, 4, 8 s: without a bound the fifth try comes 15 s after the first, past the 12 s certificate's expiry.
    agent = new Agent({ token, servers: [server], xds: [accord.xds], outDir, listen: '127.0.0.1:0', logger: silentLogger(), bundlePollMs: 600_000, retryMinMs: 1_000, retryMaxMs: 30_000 });
    await agent.start();
    const first = agent.certificate;
    expect(first).toBeDefined();
    if (!first) return;

    // Shut just before the renewal is due; open again after four renewal tries were refused.
    await new Promise((r) => setTimeout(r, Math.max(0, first.rotateAt - Date.now() - 200)));
    gate.shut();
    const reopened = await waitUntil(() => gate.refused >= 4, first.notAfter - Date.now() + 20_000);
    gate.open = true;
    expect(reopened, `renewal tries refused before the certificate expired: ${gate.refused}`).toBe(true);

    const renewedAt = await waitUntilValue(() => (agent?.certificate?.serial !== first.serial ? Date.now() : undefined), first.notAfter - Date.now() + 30_000);
    expect(renewedAt, 'a new certificate was obtained').toBeDefined();
    expect(renewedAt ?? Infinity, `renewed ${((renewedAt ?? 0) - first.notAfter) / 1000} s relative to the old certificate's expiry`).toBeLessThan(first.notAfter);
  }, 60_000);
});

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  return (await waitUntilValue(() => (check() ? true : undefined), timeoutMs)) ?? false;
}

async function waitUntilValue<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = check();
    if (value !== undefined) return value;
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}
