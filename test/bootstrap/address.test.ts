import { describe, expect, it } from 'vitest';
import { parseHostPort } from '../../src/mesh/bootstrap/address.js';

describe('parseHostPort', () => {
  it('reads names, IPv4 and bracketed IPv6 with their ports', () => {
    expect(parseHostPort('accord.mesh.svc:18000')).toEqual({ host: 'accord.mesh.svc', port: 18000, isIp: false });
    expect(parseHostPort('10.0.0.1:1')).toEqual({ host: '10.0.0.1', port: 1, isIp: true });
    expect(parseHostPort('[fd00::1]:65535')).toEqual({ host: 'fd00::1', port: 65535, isIp: true });
  });

  it.each(['accord', 'accord:', ':18000', 'accord:0', 'accord:65536', 'fd00::1:18000', '[accord]:18000', 'a b:1'])('refuses %j', (address) => {
    expect(() => parseHostPort(address)).toThrow(/invalid address/);
  });
});
