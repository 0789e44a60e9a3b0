import { describe, expect, it } from 'vitest';
import { ResourceEncoder } from '../../../src/xds/encoder.js';
import { TypeUrl } from '../../../src/xds/contract.js';
import { encodeInlineTlsCertificateSecret, isInlineTlsCertificateSecret } from '../../../src/xds/tls-secret-wire.js';
import { envoyRoot } from './protos.js';

const encoder = new ResourceEncoder(envoyRoot());

function secret(name: string, chain: string, key: string): { name: string; tls_certificate: { certificate_chain: { inline_string: string }; private_key: { inline_string: string } } } {
  return { name, tls_certificate: { certificate_chain: { inline_string: chain }, private_key: { inline_string: key } } };
}

describe('encodeInlineTlsCertificateSecret', () => {
  const pem = (label: string, bytes: number): string => `-----BEGIN ${label}-----\n${'A'.repeat(bytes)}\n-----END ${label}-----\n`;
  const cases = [
    secret('default', pem('CERTIFICATE', 700) + pem('CERTIFICATE', 600), pem('PRIVATE KEY', 160)),
    // Lengths around one- and two-byte varints, and a name outside ASCII.
    secret('d', 'x'.repeat(127), 'y'.repeat(128)),
    secret('zertifikat-ü-证书', 'c'.repeat(16_400), 'k'.repeat(3)),
    secret('empty-values', '', ''),
  ];

  for (const [i, value] of cases.entries()) {
    it(`writes the general encoder's bytes and version (case ${i})`, () => {
      const fast = encodeInlineTlsCertificateSecret('default', value);
      const general = encoder.encode(TypeUrl.Secret, 'default', value);
      expect(Buffer.from(fast.any).toString('hex')).toBe(Buffer.from(general.any).toString('hex'));
      expect(fast).toMatchObject({ name: 'default', typeUrl: TypeUrl.Secret, version: general.version });
    });
  }

  it('keeps the resource name apart from the Secret name inside it', () => {
    const value = secret('inner', 'chain', 'key');
    expect(encodeInlineTlsCertificateSecret('outer', value).name).toBe('outer');
    expect(encoder.decode(encodeInlineTlsCertificateSecret('outer', value))).toMatchObject({ name: 'inner' });
  });

  it('recognises only a Secret with exactly an inline chain and key', () => {
    expect(isInlineTlsCertificateSecret(secret('default', 'c', 'k'))).toBe(true);
    expect(isInlineTlsCertificateSecret({ name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: 'c' } } })).toBe(false);
    expect(isInlineTlsCertificateSecret({ ...secret('default', 'c', 'k'), generic_secret: {} })).toBe(false);
    expect(isInlineTlsCertificateSecret({ name: 'default', tls_certificate: { certificate_chain: { filename: '/etc/cert' }, private_key: { inline_string: 'k' } } })).toBe(false);
    expect(isInlineTlsCertificateSecret({ name: 'default', tls_certificate: { certificate_chain: { inline_string: 'c' }, private_key: { inline_string: 'k' }, password: { inline_string: 'p' } } })).toBe(false);
  });
});
