import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rootRotationPhaseSince, streamSyncState } from '../../src/app/operations-metrics.js';
import type { ProxySummary } from '../../src/xds/index.js';
import { Delivery, SummaryBuilder } from '../../src/xds/status.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

function proxy(...statuses: ('SENT' | 'ACKED' | 'NACKED')[]): ProxySummary {
  const delivery = { SENT: Delivery.Sent, ACKED: Delivery.Acked, NACKED: Delivery.Nacked } as const;
  const summary = new SummaryBuilder();
  statuses.forEach((status, i) => summary.add(delivery[status], 1000 + i));
  return { nodeId: 'n', peer: 'p', connectedAt: '', types: [summary.build('t', 'nonce', undefined)] };
}

function metricValue(text: string, name: string, labels = ''): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('operations metrics', () => {
  it("a stream's state is its worst resource's", () => {
    expect(streamSyncState(proxy('ACKED', 'ACKED'))).toBe('synced');
    expect(streamSyncState(proxy('ACKED', 'SENT'))).toBe('pending');
    expect(streamSyncState(proxy('SENT', 'NACKED', 'ACKED'))).toBe('nacked');
  });

  it('reads the start of a root-rotation phase only while a rotation is under way', () => {
    expect(rootRotationPhaseSince({ rootRotation: { phase: 'none' } })).toBeUndefined();
    expect(rootRotationPhaseSince({ rootRotation: { phase: 'P4_RETIRED', since: '2026-01-01T00:00:00Z' } })).toBeUndefined();
    expect(rootRotationPhaseSince({ rootRotation: { phase: 'P1_TRUST_BOTH', since: '2026-01-01T00:00:00Z' } })).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(rootRotationPhaseSince('nonsense')).toBeUndefined();
  });

  describe('on /metrics', () => {
    let accord: TestAccord;
    beforeAll(async () => {
      accord = await startTestAccord();
    });
    afterAll(async () => accord.close());

    it('counts rejected policy changes, registered workloads, the store and the rotation phase', async () => {
      const before = (await api(accord, 'GET', '/metrics', { token: null })).text;
      expect(metricValue(before, 'accord_policy_rejected_changes_total')).toBe(0);
      expect(metricValue(before, 'accord_registry_store_up')).toBe(1);
      expect(metricValue(before, 'accord_ca_root_rotation_phase_seconds')).toBe(0);
      const rejected = await api(accord, 'PUT', '/v1/policies', { yaml: 'apiVersion: accord.dev/v1\nkind: Mesh\nmetadata: { name: default }\nspec: { bogus: 1 }\n' });
      expect(rejected.status).toBe(400);
      const registered = await api(accord, 'POST', '/v1/workloads', { body: { service: 'orders', address: '10.0.0.1', port: 80 } });
      expect(registered.status).toBe(201);
      // The registry snapshot follows the store after its debounce.
      let after = '';
      const deadline = Date.now() + 10_000;
      while (metricValue(after, 'accord_registry_workloads') !== 1 && Date.now() < deadline) {
        after = (await api(accord, 'GET', '/metrics', { token: null })).text;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(metricValue(after, 'accord_registry_workloads')).toBe(1);
      expect(metricValue(after, 'accord_policy_rejected_changes_total')).toBe(1);
      expect(metricValue(after, 'accord_proxy_streams', '{state="synced"}')).toBe(0);
    });
  });
});
