/** The real-Envoy harness itself: processes, the admin API client, offline validation, the sweep. */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, inject, it, vi } from 'vitest';
import { EnvoyProcess, validateBootstrap } from '../../src/envoy/index.js';
import { ENVOY_TEST_TIMEOUT_MS, testEnvoyBinary, useEnvoyFleet } from '../support/envoy.js';
import { sweepEnvoyRun } from '../support/envoy-run.js';
import { freeListenPorts } from '../support/relocate-ports.js';

vi.setConfig({ testTimeout: ENVOY_TEST_TIMEOUT_MS, hookTimeout: ENVOY_TEST_TIMEOUT_MS });

/** A bootstrap with one static listener answering 200 "hello" and one static cluster. */
function staticBootstrap(port: number): Record<string, unknown> {
  return {
    node: { id: 'harness', cluster: 'harness' },
    static_resources: {
      listeners: [
        {
          name: 'hello',
          address: { socket_address: { address: '127.0.0.1', port_value: port } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'hello',
                    route_config: {
                      virtual_hosts: [{ name: 'hello', domains: ['*'], routes: [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: 'hello' } } }] }],
                    },
                    http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [
        {
          name: 'backend',
          type: 'STATIC',
          load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.2', port_value: port } } } }] }] },
        },
      ],
    },
  };
}

describe('real-Envoy harness', () => {
  const fleet = useEnvoyFleet();

  it('runs Envoys side by side with admin on ephemeral ports, and reads them through the admin API', async () => {
    const [port1, port2] = await freeListenPorts(2);
    const [one, two] = await Promise.all([fleet.start('harness-one', staticBootstrap(port1)), fleet.start('harness-two', staticBootstrap(port2))]);
    expect(one.admin.baseUrl).not.toBe(two.admin.baseUrl);
    await Promise.all([one.waitLive(), two.waitLive()]);

    expect((await fetch(`http://127.0.0.1:${port1}/`).then((r) => r.text()))).toBe('hello');
    expect((await one.admin.serverInfo()).version).toContain(`/${testEnvoyBinary().version}/`);
    expect(await one.admin.listeners()).toEqual([{ name: 'hello', local_address: { socket_address: { address: '127.0.0.1', port_value: port1 } } }]);
    const clusters = await one.admin.clusters();
    expect(clusters.map((c) => c.name)).toEqual(['backend']);
    expect(clusters[0].host_statuses?.[0].address.socket_address).toEqual({ address: '127.0.0.2', port_value: port1 });
    // Envoy counts a request when its stream ends, which can be a moment after the client has the body.
    const completed = await one.waitFor('the request to be counted', async () => {
      const count = (await one.admin.stats('^http\\.hello\\.downstream_rq_completed$')).get('http.hello.downstream_rq_completed');
      return count === 1 ? count : undefined;
    });
    expect(completed).toBe(1);
    const view = await one.dump();
    expect(view.staticClusters).toEqual(['backend']);
    expect(view.bootstrap).toMatchObject({ node: { id: 'harness' } });
    expect(await one.admin.certs()).toEqual([]);
    expect(await one.rejectedUpdates()).toEqual({});
  });

  it('validates bootstraps offline: a good one passes, a bad one fails with Envoy\'s reason', async () => {
    const dir = fleet.scratchDir('validate');
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, JSON.stringify(staticBootstrap(10_001)));
    expect(await validateBootstrap(testEnvoyBinary().path, good)).toMatchObject({ ok: true });
    const bad = path.join(dir, 'bad.yaml');
    const broken = staticBootstrap(10_001);
    (broken.static_resources as { clusters: Record<string, unknown>[] }).clusters[0].lb_policy = 'NO_SUCH_POLICY';
    writeFileSync(bad, JSON.stringify(broken));
    const result = await validateBootstrap(testEnvoyBinary().path, bad);
    expect(result.ok).toBe(false);
    expect(result.output).toContain('NO_SUCH_POLICY');
  });

  it('the end-of-run sweep kills an Envoy a crashed worker left running and keeps its log', async () => {
    const runDir = mkdtempSync(path.join(fleet.scratchDir('sweep'), 'run-'));
    const workDir = mkdtempSync(path.join(runDir, 'orphan-'));
    const [port] = await freeListenPorts(1);
    const orphan = await EnvoyProcess.start({ binary: testEnvoyBinary().path, bootstrap: staticBootstrap(port), workDir });
    const { killed, keptLogs } = sweepEnvoyRun(runDir);
    expect(killed).toEqual([orphan.pid]);
    expect(await orphan.exited).toMatchObject({ signal: 'SIGKILL' });
    expect(keptLogs).toEqual([path.join(workDir, 'envoy.log')]);
    expect(existsSync(runDir)).toBe(true);
  });

  it('gets its Envoy and run directory from the global setup', () => {
    expect(inject('envoyRunDir')).toBeTruthy();
    expect(testEnvoyBinary().versionLine).toContain(testEnvoyBinary().version);
  });
});
