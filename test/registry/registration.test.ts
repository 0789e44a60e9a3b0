import { describe, expect, it } from 'vitest';
import { parseRegistration, randomIdSuffix, workloadId } from '../../src/registry/registration.js';
import { parseDuration } from '../../src/core/duration.js';
import { checkAddress, checkLabelKey, checkLabelValue } from '../../src/registry/validation.js';
import { validateWorkload } from '../../src/registry/workload-validation.js';

const fixedId = () => 'x1y2z3';

function fieldsOf(result: ReturnType<typeof parseRegistration>): string[] {
  return result.ok ? [] : result.errors.map((e) => e.field);
}

describe('parseRegistration', () => {
  it('applies the documented defaults to a minimal body', () => {
    const result = parseRegistration({ service: 'payments', address: '10.1.2.3', port: 8080 }, fixedId);
    expect(result).toEqual({
      ok: true,
      workload: {
        id: 'payments-x1y2z3',
        service: 'payments',
        namespace: 'default',
        serviceAccount: 'payments',
        address: '10.1.2.3',
        port: 8080,
        meshPort: 8080,
        protocol: 'http',
        labels: {},
        locality: {},
        health: 'HEALTHY',
        upstreams: [],
      },
    });
  });

  it('takes every optional field', () => {
    const result = parseRegistration(
      {
        service: 'orders',
        address: 'orders-1.svc.example.com',
        port: 8080,
        namespace: 'shop',
        serviceAccount: 'orders-sa',
        protocol: 'grpc',
        meshPort: 15006,
        labels: { 'app.kubernetes.io/name': 'orders', version: 'v2', empty: '' },
        locality: { region: 'eu-west-1', zone: 'eu-west-1b' },
        ttl: '1m30s',
        upstreams: [
          { service: 'payments', localPort: 9001 },
          { service: 'audit', namespace: 'ops', localPort: 9002 },
        ],
      },
      fixedId,
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.workload).toMatchObject({
      namespace: 'shop',
      serviceAccount: 'orders-sa',
      protocol: 'grpc',
      meshPort: 15006,
      leaseMs: 90_000,
      locality: { region: 'eu-west-1', zone: 'eu-west-1b' },
      upstreams: [
        { service: 'payments', namespace: 'shop', localPort: 9001 },
        { service: 'audit', namespace: 'ops', localPort: 9002 },
      ],
    });
    expect(validateWorkload(result.workload)).toEqual([]);
  });

  it('accepts IPv6 literals', () => {
    expect(parseRegistration({ service: 'a', address: 'fd00::1', port: 1 }, fixedId).ok).toBe(true);
  });

  it('collects every error, each naming its field', () => {
    const result = parseRegistration(
      {
        service: 'Bad_Name',
        address: 'no spaces allowed',
        port: 70000,
        namespace: '-x',
        protocol: 'udp',
        meshPort: 1.5,
        labels: { '-bad': 'v', ok: 'not valid!', 'example.com/': 'v' },
        locality: { region: 5, planet: 'mars' },
        ttl: 'soon',
        upstreams: [{ service: 'payments' }, { service: 'x', localPort: 9001, extra: true }, { service: 'y', localPort: 9001 }],
        color: 'blue',
      },
      fixedId,
    );
    expect(result.ok).toBe(false);
    expect(fieldsOf(result).sort()).toEqual(
      [
        'service',
        'address',
        'port',
        'namespace',
        'protocol',
        'meshPort',
        'labels["-bad"]',
        'labels["ok"]',
        'labels["example.com/"]',
        'locality.region',
        'locality.planet',
        'ttl',
        'upstreams[0].localPort',
        'upstreams[1].extra',
        'upstreams[2].localPort',
        'color',
      ].sort(),
    );
    if (!result.ok) {
      expect(result.errors.find((e) => e.field === 'color')?.message).toBe('unknown field');
      expect(result.errors.find((e) => e.field === 'upstreams[2].localPort')?.message).toMatch(/duplicates upstreams\[1\]/);
    }
  });

  it('refuses a locality sub-zone without a zone', () => {
    const result = parseRegistration({ service: 'a', address: '10.0.0.1', port: 80, locality: { region: 'eu', subZone: 'rack-1' } }, fixedId);
    expect(result.ok ? [] : result.errors).toEqual([{ field: 'locality.subZone', message: 'needs a zone' }]);
  });

  it('requires service, address and port', () => {
    expect(fieldsOf(parseRegistration({}, fixedId)).sort()).toEqual(['address', 'port', 'service']);
  });

  it('refuses non-objects', () => {
    for (const body of [null, [], 'x', 42]) {
      expect(parseRegistration(body, fixedId)).toEqual({ ok: false, errors: [{ field: 'body', message: 'must be a JSON object' }] });
    }
  });

  it('bounds the ttl', () => {
    expect(fieldsOf(parseRegistration({ service: 'a', address: '1.2.3.4', port: 1, ttl: '10ms' }, fixedId))).toEqual(['ttl']);
    expect(fieldsOf(parseRegistration({ service: 'a', address: '1.2.3.4', port: 1, ttl: '48h' }, fixedId))).toEqual(['ttl']);
    expect(fieldsOf(parseRegistration({ service: 'a', address: '1.2.3.4', port: 1, ttl: 30 }, fixedId))).toEqual(['ttl']);
  });
});

describe('workload ids', () => {
  it('are <service>-<suffix> and DNS-1123 labels even for long service names', () => {
    const suffix = randomIdSuffix();
    expect(suffix).toMatch(/^[a-z0-9]{10}$/);
    expect(workloadId('orders', suffix)).toBe(`orders-${suffix}`);
    const long = workloadId(`${'a'.repeat(50)}-${'b'.repeat(12)}`, suffix);
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    const result = parseRegistration({ service: 'a'.repeat(63), address: '1.2.3.4', port: 1 });
    expect(result.ok && result.workload.id.length).toBe(63);
  });

  it('are distinct across calls with the default factory', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomIdSuffix()));
    expect(ids.size).toBe(1000);
  });
});

describe('field checks', () => {
  it('addresses', () => {
    for (const ok of ['10.0.0.1', '::1', 'localhost', 'a-b.example.com', 'example.com.']) expect(checkAddress(ok)).toBeUndefined();
    for (const bad of ['', '10.0.0.300', '-a.com', 'a..b', 'a_b.com', 'http://x', 'x'.repeat(64)]) {
      expect(checkAddress(bad)).toBeDefined();
    }
  });

  it('label keys and values as Kubernetes does', () => {
    for (const ok of ['app', 'app.kubernetes.io/name', 'a_b-c.d', 'A1']) expect(checkLabelKey(ok)).toBeUndefined();
    for (const bad of ['', '/x', 'Example.com/x', 'x/', '_a', 'a'.repeat(64), 'a/b/c']) expect(checkLabelKey(bad)).toBeDefined();
    for (const ok of ['', 'v1', 'a.b_c-d']) expect(checkLabelValue(ok)).toBeUndefined();
    for (const bad of ['-v', 'v ', 'x'.repeat(64), 7]) expect(checkLabelValue(bad)).toBeDefined();
  });

  it('reads the lease ttl with the one duration grammar that policies and flags use', () => {
    const ttl = (value: string) => parseRegistration({ service: 'payments', address: '10.1.2.3', port: 8080, ttl: value }, fixedId);
    for (const [text, ms] of [['30s', 30_000], ['1m30s', 90_000], ['1.5s', 1_500], ['24h', 86_400_000]] as const) {
      const result = ttl(text);
      expect(result.ok && result.workload.leaseMs, text).toBe(ms);
      expect(parseDuration(text)).toEqual({ ok: true, ms });
    }
    for (const bad of ['', '30', 's', '-1s', '1d', '1s1h']) {
      const result = ttl(bad);
      const grammar = parseDuration(bad);
      expect(grammar.ok, bad).toBe(false);
      expect(result.ok ? [] : result.errors.map((e) => e.message), bad).toEqual([grammar.ok ? '' : grammar.reason]);
    }
    expect(fieldsOf(ttl('25h'))).toEqual(['ttl']);
  });
});

describe('validateWorkload', () => {
  it('rejects unknown and missing fields', () => {
    const fields = validateWorkload({ id: 'a-1', extra: 1 }).map((e) => e.field);
    expect(fields).toContain('extra');
    expect(fields).toContain('service');
    expect(fields).toContain('upstreams');
    expect(fields).toContain('health');
  });
});
