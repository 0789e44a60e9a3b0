import { describe, expect, it } from 'vitest';
import { MeshTranslator, UnknownWorkloadError, flavourOf } from '../../src/mesh/index.js';
import { INBOUND_IDLE_TIMEOUT_MS, callerConnectionLimits, maxConnectionDurationMs } from '../../src/mesh/connection-lifetime.js';
import { SDS_CERTIFICATE, SDS_ROOT_CA } from '../../src/mesh/configurers/sds.js';
import { DEFAULT_MESH } from '../../src/core/policy.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { scenarioFrom } from './support/scenario.js';

const scenario = scenarioFrom({
  workloads: [
    { id: 'a-1', service: 'a', address: '10.0.0.1', port: 8080, meshPort: 15006, upstreams: [{ service: 'b', localPort: 9001 }] },
    { id: 'b-1', service: 'b', address: '10.0.0.2', port: 8080, meshPort: 15006 },
  ],
});

/** Every object reachable from a value whose `name` is one of the SDS secret names. */
function sdsConfigs(value: unknown, found: unknown[] = []): unknown[] {
  if (Array.isArray(value)) value.forEach((v) => sdsConfigs(v, found));
  else if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if ('sds_config' in record) found.push(record);
    Object.values(record).forEach((v) => sdsConfigs(v, found));
  }
  return found;
}

describe('MeshTranslator', () => {
  it('throws UnknownWorkloadError for a workload not in the snapshot', () => {
    const translator = new MeshTranslator();
    expect(() => translator.translate(scenario.input, 'nope', 'envoy')).toThrow(UnknownWorkloadError);
    expect(() => translator.inputKey(scenario.input, 'nope', 'grpc')).toThrow(UnknownWorkloadError);
  });

  it('returns every xDS type, empty ones included', () => {
    const resources = new MeshTranslator().translate(scenario.input, 'b-1', 'envoy');
    expect([...resources.keys()].sort()).toEqual(
      [TypeUrl.Cluster, TypeUrl.ClusterLoadAssignment, TypeUrl.Listener, TypeUrl.RouteConfiguration].sort(),
    );
    expect(resources.get(TypeUrl.RouteConfiguration)?.size).toBe(0);
  });

  it('references the SDS secrets through the one shared frozen config per name', () => {
    const resources = new MeshTranslator().translate(scenario.input, 'a-1', 'envoy');
    const configs = [...resources.values()].flatMap((byName) => [...byName.values()].flatMap((r) => sdsConfigs(r)));
    expect(configs.length).toBeGreaterThanOrEqual(4);
    for (const config of configs) expect(config === SDS_CERTIFICATE || config === SDS_ROOT_CA).toBe(true);
    expect(Object.isFrozen(SDS_CERTIFICATE) && Object.isFrozen((SDS_CERTIFICATE as { sds_config: object }).sds_config)).toBe(true);
  });

  it('freezes what it returns', () => {
    const resources = new MeshTranslator().translate(scenario.input, 'a-1', 'envoy');
    const listener = resources.get(TypeUrl.Listener)?.get('outbound|9001');
    expect(Object.isFrozen(listener)).toBe(true);
  });

  it("does not let Envoy's default circuit breaker (1024) cap a workload's inbound connections", () => {
    const resources = new MeshTranslator().translate(scenario.input, 'b-1', 'envoy');
    const inbound = resources.get(TypeUrl.Cluster)?.get('inbound|8080') as { circuit_breakers?: { thresholds: Record<string, { value: number } | string>[] } };
    const thresholds = inbound.circuit_breakers?.thresholds ?? [];
    expect(thresholds).toHaveLength(1);
    for (const field of ['max_connections', 'max_pending_requests', 'max_requests']) {
      expect((thresholds[0]?.[field] as { value: number } | undefined)?.value ?? 0).toBeGreaterThan(1_000_000);
    }
  });

  it('every endpoint in an Envoy CLA is the destination’s mesh port', () => {
    const resources = new MeshTranslator().translate(scenario.input, 'a-1', 'envoy');
    const cla = resources.get(TypeUrl.ClusterLoadAssignment)?.get('outbound.b.default');
    expect(JSON.stringify(cla)).toContain('"port_value":15006');
  });
});

describe('flavourOf', () => {
  it('recognises Envoy and gRPC user agents', () => {
    expect(flavourOf('envoy')).toBe('envoy');
    expect(flavourOf('gRPC Node Pure JS')).toBe('grpc');
    expect(flavourOf('grpc-go')).toBe('grpc');
    expect(flavourOf('grpc-java-netty')).toBe('grpc');
  });
});

describe('maxConnectionDurationMs', () => {
  it('ends a connection before a certificate used at its latest rotation expires', () => {
    expect(maxConnectionDurationMs(DEFAULT_MESH)).toBe(34_560_000);
    const short = { ...DEFAULT_MESH, certificates: { ttlMs: 1000, rotateAt: 0.5, jitter: 0.1 } };
    expect(maxConnectionDurationMs(short)).toBe(1000);
  });

  it('lets callers keep a connection for less than the destination allows, in all and idle', () => {
    const limits = callerConnectionLimits(DEFAULT_MESH);
    expect(limits.maxDurationMs).toBeLessThan(maxConnectionDurationMs(DEFAULT_MESH));
    expect(limits.maxDurationMs).toBe(25_920_000);
    expect(limits.idleTimeoutMs).toBeLessThan(INBOUND_IDLE_TIMEOUT_MS);
    const short = { ...DEFAULT_MESH, certificates: { ttlMs: 1000, rotateAt: 0.5, jitter: 0.1 } };
    expect(callerConnectionLimits(short).maxDurationMs).toBe(750);
  });
});

describe('local port conflicts', () => {
  it('leaves out an Envoy upstream on the workload’s own port, with a note', () => {
    const { input } = scenarioFrom({
      workloads: [
        { id: 'a-1', service: 'a', address: '10.0.0.1', port: 8080, meshPort: 15006, upstreams: [{ service: 'b', localPort: 15006 }, { service: 'c', localPort: 8080 }, { service: 'd', localPort: 9001 }] },
      ],
    });
    const translation = new MeshTranslator().translateWithNotes(input, 'a-1', 'envoy');
    expect([...(translation.resources.get(TypeUrl.Listener)?.keys() ?? [])]).toEqual(['inbound|15006', 'outbound|9001']);
    expect(translation.notes.map((n) => n.code)).toEqual(['LOCAL_PORT_CONFLICT', 'LOCAL_PORT_CONFLICT']);
  });
});
