import { beforeAll, describe, expect, it } from 'vitest';
import protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { fieldRulesOf, isOneofRequired } from '../support/proto-rules/rules.js';

let root: protobuf.Root;
beforeAll(() => {
  root = loadEnvoyProtos();
});

const field = (type: string, name: string): protobuf.Field => root.lookupType(type).fields[name];

describe('reading validate annotations as protobufjs 7 keeps them', () => {
  it('reads aggregate options that exist only in parsedOptions', () => {
    // `[(validate.rules).duration = {gt {}}]` has no flattened form in `options`.
    expect(field('envoy.config.cluster.v3.Cluster', 'connect_timeout').options?.['(validate.rules).duration.gt']).toBeUndefined();
    expect(fieldRulesOf(field('envoy.config.cluster.v3.Cluster', 'connect_timeout'))).toEqual({ duration: { gt: {} } });
  });

  it('reads nested repeated item rules', () => {
    expect(fieldRulesOf(field('envoy.config.route.v3.VirtualHost', 'domains'))).toEqual({
      repeated: { min_items: 1, items: { string: { well_known_regex: 'HTTP_HEADER_VALUE', strict: false } } },
    });
  });

  it('reads several rules of one kind given as separate options', () => {
    expect(fieldRulesOf(field('envoy.config.route.v3.HeaderMatcher', 'name'))).toEqual({
      string: { min_len: 1, well_known_regex: 'HTTP_HEADER_NAME', strict: false },
    });
  });

  it('reads message.required', () => {
    expect(fieldRulesOf(field('envoy.config.route.v3.Route', 'match'))).toEqual({ message: { required: true } });
  });

  it('reads oneof (validate.required)', () => {
    const socketAddress = root.lookupType('envoy.config.core.v3.SocketAddress');
    expect(isOneofRequired(socketAddress.oneofs.port_specifier)).toBe(true);
    const route = root.lookupType('envoy.config.route.v3.Route');
    expect(isOneofRequired(route.oneofs.action)).toBe(true);
    expect(isOneofRequired(root.lookupType('envoy.config.core.v3.HealthCheck').oneofs.health_checker)).toBe(true);
    expect(isOneofRequired(root.lookupType('envoy.config.cluster.v3.Cluster').oneofs.cluster_discovery_type)).toBe(false);
  });

  it('loses no annotation: every flattened validate option agrees with the parsed rules', () => {
    const disagreements: string[] = [];
    let compared = 0;
    const visit = (namespace: protobuf.NamespaceBase): void => {
      for (const nested of namespace.nestedArray) {
        if (nested instanceof protobuf.Type) {
          for (const f of nested.fieldsArray) {
            const rules = fieldRulesOf(f);
            for (const [key, value] of Object.entries(f.options ?? {})) {
              if (!key.startsWith('(validate.rules).')) continue;
              const parsed = key
                .slice('(validate.rules).'.length)
                .split('.')
                .reduce<unknown>((node, part) => (node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined), rules);
              compared += 1;
              const agrees = Array.isArray(parsed) ? parsed.includes(value) : parsed === value;
              if (!agrees) disagreements.push(`${nested.fullName}.${f.name} ${key}`);
            }
          }
        }
        if (nested instanceof protobuf.Namespace) visit(nested);
      }
    };
    visit(root);
    expect(compared).toBeGreaterThan(300);
    expect(disagreements).toEqual([]);
  });
});
