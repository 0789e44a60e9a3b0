import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { IssuanceError } from '../../src/ca/errors.js';
import { ipAddressBytes } from '../../src/ca/leaf-template.js';
import { IssuancePool } from '../../src/ca/issuance-pool.js';
import { newCa, openssl, spiffe } from './helpers.js';

describe('DNS and IP SANs for the control plane\'s own certificate', () => {
  it('standard hostname verification accepts the names and refuses others', async () => {
    const now = Date.now();
    const { ca } = await newCa(now);
    const leaf = ca.issue({ spiffeId: spiffe('accord-system', 'control-plane'), now, dnsNames: ['localhost', 'xds.accord.svc'], ipAddresses: ['127.0.0.1', '::1'] });
    const text = (await openssl(['x509', '-noout', '-ext', 'subjectAltName'], leaf.certChainPem)).stdout;
    expect(text).toContain('URI:spiffe://mesh.test/ns/accord-system/sa/control-plane');
    expect(text).toContain('DNS:localhost, DNS:xds.accord.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');

    const server = tls.createServer({ cert: leaf.certChainPem, key: leaf.keyPem }, (socket) => socket.end('ok\n'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const attempt = (servername: string | undefined): Promise<string> =>
      new Promise((resolve) => {
        const socket = tls.connect({ host: '127.0.0.1', port, ca: ca.trustBundlePem(), servername });
        socket.on('secureConnect', () => resolve('ok'));
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
    try {
      expect(await attempt('localhost')).toBe('ok');
      expect(await attempt('xds.accord.svc')).toBe('ok');
      expect(await attempt(undefined)).toBe('ok'); // checked against IP 127.0.0.1
      expect(await attempt('evil.example')).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    } finally {
      server.close();
    }
  });

  it('refuses malformed names, naming the field; the pool refuses extra names', async () => {
    const now = Date.now();
    const { ca } = await newCa(now);
    expect(() => ca.issue({ spiffeId: spiffe('a', 'b'), now, dnsNames: ['ok.example', 'bad name'] })).toThrow(/^dnsNames\[1\]: /);
    expect(() => ca.issue({ spiffeId: spiffe('a', 'b'), now, ipAddresses: ['300.1.1.1'] })).toThrow(IssuanceError);
    const pool = new IssuancePool({ size: 1 });
    try {
      await expect(pool.issueMany(ca, [{ spiffeId: spiffe('a', 'b'), now, dnsNames: ['x'] }])).rejects.toThrow(/requests\[0\]/);
    } finally {
      await pool.close();
    }
  });

  it('encodes IPv4, IPv6 and IPv4-mapped IPv6 addresses', () => {
    expect(ipAddressBytes('10.1.2.3').toString('hex')).toBe('0a010203');
    expect(ipAddressBytes('::1').toString('hex')).toBe('00000000000000000000000000000001');
    expect(ipAddressBytes('2001:db8::8a2e:370:7334').toString('hex')).toBe('20010db80000000000008a2e03707334');
    expect(ipAddressBytes('::ffff:10.0.0.1').toString('hex')).toBe('00000000000000000000ffff0a000001');
    expect(ipAddressBytes('fe80::1%eth0').toString('hex')).toBe('fe800000000000000000000000000001');
  });
});
