import crypto from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  derLength,
  derOid,
  derSmallInteger,
  derTime,
  derUnsignedInteger,
  pemDecodeAll,
  pemEncode,
  readDerChildren,
  readDerElement,
  splitCertificates,
  tlv,
} from '../../src/ca/der.js';
import { generateLeafKey, publicKeyBitsOf } from '../../src/ca/keys.js';

describe('DER writer', () => {
  it('encodes lengths in short and long form', () => {
    expect(derLength(0x7f).toString('hex')).toBe('7f');
    expect(derLength(0x80).toString('hex')).toBe('8180');
    expect(derLength(0x1234).toString('hex')).toBe('821234');
    expect(tlv(0x04, Buffer.alloc(300)).subarray(0, 4).toString('hex')).toBe('0482012c');
  });

  it('encodes OIDs, including multi-byte arcs', () => {
    expect(derOid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(derOid('2.5.29.17').toString('hex')).toBe('0603551d11');
    expect(() => derOid('1')).toThrow(/two arcs/);
  });

  it('encodes positive integers minimally', () => {
    expect(derUnsignedInteger(Buffer.from('0001', 'hex')).toString('hex')).toBe('020101');
    expect(derUnsignedInteger(Buffer.from('80', 'hex')).toString('hex')).toBe('02020080');
    expect(derUnsignedInteger(Buffer.from('00', 'hex')).toString('hex')).toBe('020100');
    expect(derSmallInteger(0).toString('hex')).toBe('020100');
    expect(derSmallInteger(256).toString('hex')).toBe('02020100');
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050, in whole seconds', () => {
    expect(derTime(Date.UTC(2026, 10, 23, 12, 0, 1, 999)).toString('ascii').slice(2)).toBe('261123120001Z');
    expect(derTime(Date.UTC(2026, 0, 1))[0]).toBe(0x17);
    const late = derTime(Date.UTC(2050, 0, 1));
    expect(late[0]).toBe(0x18);
    expect(late.toString('ascii').slice(2)).toBe('20500101000000Z');
  });

  it('reads back what it wrote and round-trips PEM bundles', () => {
    const der = tlv(0x30, Buffer.concat([derSmallInteger(5), tlv(0x04, Buffer.alloc(200, 1))]));
    const children = readDerChildren(der, readDerElement(der, 0));
    expect(children.map((c) => c.tag)).toEqual([0x02, 0x04]);
    expect(children[1].end - children[1].contentStart).toBe(200);
    const pem = pemEncode('CERTIFICATE', der) + pemEncode('CERTIFICATE', Buffer.from([1, 2, 3]));
    expect(pemDecodeAll('CERTIFICATE', pem).map((b) => b.toString('hex'))).toEqual([der.toString('hex'), '010203']);
    expect(splitCertificates(pem)).toHaveLength(2);
    expect(() => readDerElement(Buffer.from('3005', 'hex'), 0)).toThrow(/overruns/);
  });
});

describe('leaf keys', () => {
  it('spliced P-256 PKCS#8 and SPKI are what OpenSSL would write, for many keys', () => {
    for (let i = 0; i < 600; i++) {
      const key = generateLeafKey('ec-p256');
      const privateKey = crypto.createPrivateKey(key.privateKeyPem);
      expect(privateKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
      const derived = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
      expect(derived.equals(key.spkiDer)).toBe(true);
      expect(privateKey.export({ type: 'pkcs8', format: 'pem' })).toBe(key.privateKeyPem);
      expect(publicKeyBitsOf(key.spkiDer).equals(key.publicKeyBits)).toBe(true);
    }
  });
});
