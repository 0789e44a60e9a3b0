import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { derSequence, pemEncode, tlv } from './der.js';
import { toCryptoSigningKey, signatureSchemeFor } from './keys.js';

/** A CA certificate with its private key, both PEM. */
export interface CaKeyPair {
  readonly certPem: string;
  /** PKCS#8 PEM. Never log. */
  readonly keyPem: string;
}

export const DEFAULT_ROOT_TTL_MS = 10 * 365 * 24 * 3600_000;
export const DEFAULT_INTERMEDIATE_TTL_MS = 365 * 24 * 3600_000;
const CA_BACKDATE_MS = 60_000;

export interface CaCertOptions {
  readonly trustDomain: string;
  readonly now: number;
  readonly ttlMs?: number;
}

async function generateCaKeys(): Promise<{ keys: crypto.webcrypto.CryptoKeyPair; keyPem: string }> {
  const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as crypto.webcrypto.CryptoKeyPair;
  const pkcs8 = await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
  return { keys, keyPem: pemEncode('PRIVATE KEY', Buffer.from(pkcs8)) };
}

function caName(kind: string, trustDomain: string, now: number): string {
  // The timestamp keeps successive generations' names distinct, which keeps chain building unambiguous.
  const stamp = new Date(now).toISOString().slice(0, 19).replace(/[-:]/g, '');
  return `CN=Accord ${kind} CA ${stamp}, O=Accord, OU=${trustDomain.replace(/[,+="<>#;\\]/g, '_')}`;
}

function randomSerialHex(): string {
  const bytes = crypto.randomBytes(16);
  bytes[0] &= 0x7f;
  if (bytes[0] === 0) bytes[0] = 1;
  return bytes.toString('hex');
}

/** A self-signed root: CA, no path length limit, keyCertSign + cRLSign. */
export async function createRootCa(options: CaCertOptions): Promise<CaKeyPair> {
  const { keys, keyPem } = await generateCaKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: caName('Root', options.trustDomain, options.now),
    notBefore: new Date(options.now - CA_BACKDATE_MS),
    notAfter: new Date(options.now + (options.ttlMs ?? DEFAULT_ROOT_TTL_MS)),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem };
}

const NAME_CONSTRAINTS_OID = '2.5.29.30';

/**
 * NameConstraints (RFC 5280 §4.2.1.10) permitting only URIs whose host is the trust domain: the
 * intermediate cannot vouch for a SPIFFE ID of another trust domain, whatever signs with its key.
 * Constraints apply per name type, so DNS and IP SANs (the control plane's own certificate) are
 * not restricted. Built by hand: @peculiar/x509 has no NameConstraints class.
 */
export function trustDomainNameConstraints(trustDomain: string): Uint8Array {
  // GeneralName uniformResourceIdentifier is [6] IMPLICIT IA5String.
  const uri = tlv(0x86, Buffer.from(trustDomain, 'ascii'));
  const permittedSubtrees = tlv(0xa0, derSequence(uri));
  return derSequence(permittedSubtrees);
}

/** An intermediate signed by `parent`: pathLen 0, expiring no later than its parent. */
export async function createIntermediateCa(options: CaCertOptions & { readonly parent: CaKeyPair }): Promise<CaKeyPair> {
  const parentCert = new x509.X509Certificate(options.parent.certPem);
  const parentKey = crypto.createPrivateKey(options.parent.keyPem);
  const signingKey = await toCryptoSigningKey(options.parent.keyPem);
  const parentSki = parentCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const { keys, keyPem } = await generateCaKeys();
  const notAfter = Math.min(options.now + (options.ttlMs ?? DEFAULT_INTERMEDIATE_TTL_MS), parentCert.notAfter.getTime());
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: caName('Intermediate', options.trustDomain, options.now),
    issuer: parentCert.subjectName,
    notBefore: new Date(options.now - CA_BACKDATE_MS),
    notAfter: new Date(notAfter),
    publicKey: keys.publicKey,
    signingKey,
    signingAlgorithm: signatureSchemeFor(parentKey).webCrypto,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(parentSki ? [new x509.AuthorityKeyIdentifierExtension(parentSki.keyId)] : []),
      new x509.Extension(NAME_CONSTRAINTS_OID, true, trustDomainNameConstraints(options.trustDomain)),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem };
}
