// A change every proxy hears (a policy on a service all of them call) regenerates the whole fleet.
// The refresh runs in slices so that the proxies regenerated first are pushed to, and their ACKs
// read, while the rest are still being regenerated.
import { Metadata } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { MeshConfigSource, type MeshState, type ProxyGenerator } from '../../src/app/mesh-source.js';
import { realClock } from '../../src/core/clock.js';
import type { Workload } from '../../src/core/workload.js';
import { SecretLifecycles, type SecretLifecyclesDeps } from '../../src/identity/secret-lifecycle.js';
import { silentLogger } from '../../src/observability/logger.js';
import { TypeUrl, type EncodedResource } from '../../src/xds/contract.js';

const PROXIES = 200;

function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // translating one proxy
  }
}

describe('MeshConfigSource.refresh', () => {
  it('regenerates a large fleet in slices: each proxy is told as soon as it is regenerated, and the event loop runs in between', async () => {
    const workloads = new Map<string, Workload>();
    for (let i = 0; i < PROXIES; i++) workloads.set(`w${i}`, { id: `w${i}` } as Workload);
    let state: MeshState = { revision: 1, workloads, policies: {} as MeshState['policies'] };
    const generator: ProxyGenerator = {
      generate: (workloadId, _flavour, currentKey) => {
        const key = `${workloadId}@${state.revision}`;
        if (key === currentKey) return undefined;
        busy(0.2);
        const resource: EncodedResource = { name: 'shared', typeUrl: TypeUrl.Cluster, version: key, any: new Uint8Array() };
        return { key, config: new Map([[TypeUrl.Cluster, new Map([['shared', resource]])]]) };
      },
      flavourOf: () => 'envoy',
      affectedSince: () => 'all',
    };
    // Anonymous streams: the proxies' secrets are opened and released, never issued.
    const secrets = new SecretLifecycles({ clock: realClock, logger: silentLogger(), metrics: new Registry(), workload: (id: string) => workloads.get(id) } as unknown as SecretLifecyclesDeps);
    const source = new MeshConfigSource({
      logger: silentLogger(),
      metrics: new Registry(),
      generator,
      authentication: { authenticate: async () => undefined, recheck: () => undefined },
      listeners: [],
      secrets,
      state: () => state,
    });
    const events: string[] = [];
    const views = [];
    for (let i = 0; i < PROXIES; i++) {
      const node = { id: `w${i}`, cluster: 'c', userAgentName: 'envoy', userAgentVersion: '', locality: {}, clientFeatures: [], metadata: {} };
      const view = await source.open({ node, peer: '127.0.0.1:1', metadata: new Metadata() });
      view.watch(() => events.push(`changed w${i}`), () => undefined);
      views.push(view);
    }
    source.refresh();

    state = { ...state, revision: 2 };
    source.refresh();
    const toldInRefresh = events.length;
    setTimeout(() => events.push('timer'), 0);
    for (let turn = 0; turn < 1000 && events.filter((e) => e.startsWith('changed')).length < PROXIES; turn++) await new Promise((r) => setImmediate(r));

    expect(events.filter((e) => e.startsWith('changed'))).toHaveLength(PROXIES);
    // The first slice is regenerated and told within refresh(); 200 × 0.2 ms is several slices, so the timer runs between.
    expect(toldInRefresh).toBeGreaterThan(0);
    expect(toldInRefresh).toBeLessThan(PROXIES);
    const timer = events.indexOf('timer');
    expect(timer).toBeGreaterThan(0);
    expect(timer).toBeLessThan(events.length - 1);
    for (const [i, view] of views.entries()) expect(view.resources(TypeUrl.Cluster)?.get('shared')?.version).toBe(`w${i}@2`);
    source.close();
  });
});
