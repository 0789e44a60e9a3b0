import { beforeAll, describe, expect, it } from 'vitest';
import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { SdsSecretConfigs, sdsSecretConfig, tlsCertificateSecret, validationContextSecret } from '../../src/ca/sds.js';
import { newCa, spiffe } from './helpers.js';

describe('SDS secret shapes', () => {
  let root: protobuf.Root;
  let secretType: protobuf.Type;
  let chainPem: string;
  let keyPem: string;
  let bundlePem: string;
  let crlPem: string;

  beforeAll(async () => {
    root = loadEnvoyProtos();
    secretType = root.lookupType('envoy.extensions.transport_sockets.tls.v3.Secret');
    const now = Date.now();
    const { ca } = await newCa(now);
    const leaf = ca.issue({ spiffeId: spiffe('default', 'web'), now });
    chainPem = leaf.certChainPem;
    keyPem = leaf.keyPem;
    bundlePem = ca.trustBundlePem();
    ca.revokeSerial(leaf.serial, now);
    crlPem = (await ca.crlPem(now)).pem;
  });

  function roundTrip(type: protobuf.Type, value: object): unknown {
    const message = type.fromObject(value);
    expect(type.verify(message)).toBeNull();
    const bytes = type.encode(message).finish();
    return type.toObject(type.decode(bytes), { defaults: false, enums: String });
  }

  it('tls_certificate secret encodes with no field dropped', () => {
    const secret = tlsCertificateSecret('default', chainPem, keyPem);
    expect(roundTrip(secretType, secret)).toEqual(secret);
  });

  it('validation context with and without a CRL', () => {
    const plain = validationContextSecret('ROOTCA', bundlePem);
    expect(roundTrip(secretType, plain)).toEqual(plain);
    expect(plain.validation_context).not.toHaveProperty('crl');
    const withCrl = validationContextSecret('ROOTCA', bundlePem, crlPem);
    expect(withCrl.validation_context.only_verify_leaf_cert_crl).toBe(true);
    expect(roundTrip(secretType, withCrl)).toEqual(withCrl);
  });

  it('SdsSecretConfig is frozen, one object per name, and encodes to identical bytes every time', () => {
    const configs = new SdsSecretConfigs();
    const a = configs.get('default');
    expect(configs.get('default')).toBe(a);
    expect(configs.get('ROOTCA')).not.toBe(a);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.sds_config)).toBe(true);
    expect(Object.isFrozen(a.sds_config.ads)).toBe(true);
    const type = root.lookupType('envoy.extensions.transport_sockets.tls.v3.SdsSecretConfig');
    expect(roundTrip(type, a)).toEqual(a);
    const bytesA = Buffer.from(type.encode(type.fromObject(a)).finish());
    const bytesB = Buffer.from(type.encode(type.fromObject(sdsSecretConfig('default'))).finish());
    expect(bytesB.equals(bytesA)).toBe(true);
    expect(a).toEqual({ name: 'default', sds_config: { ads: {}, resource_api_version: 'V3' } });
  });

  it('refuses empty names and bundles without certificates', () => {
    expect(() => tlsCertificateSecret('', chainPem, keyPem)).toThrow(/name/);
    expect(() => validationContextSecret('ROOTCA', 'not pem')).toThrow(/ROOTCA.validation_context.trusted_ca/);
  });
});
