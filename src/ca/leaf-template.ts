import 'reflect-metadata';
import crypto, { type KeyObject } from 'node:crypto';
import net from 'node:net';
import * as x509 from '@peculiar/x509';
import {
  DER_TRUE,
  derBitString,
  derExplicit,
  derIa5String,
  derOctetString,
  derOid,
  derSequence,
  derTime,
  derUnsignedInteger,
  pemDecodeAll,
  readDerChildren,
  readDerElement,
  tlv,
} from './der.js';
import { signatureSchemeFor, subjectKeyIdentifier, publicKeyBitsOf, type SignatureScheme } from './keys.js';

/**
 * Everything about a leaf certificate that depends only on its issuer, encoded once. Issuing a
 * leaf then costs a key generation, a few buffer concatenations and one `crypto.sign`.
 */
export interface LeafTemplate {
  readonly issuerKey: KeyObject;
  readonly scheme: SignatureScheme;
  readonly issuerNotAfterMs: number;
  /** DER pieces in TBSCertificate order. */
  readonly versionDer: Buffer;
  readonly signatureAlgorithmDer: Buffer;
  readonly issuerNameDer: Buffer;
  readonly emptySubjectDer: Buffer;
  /** basicConstraints, keyUsage, extKeyUsage and authorityKeyIdentifier, already encoded. */
  readonly fixedExtensionsDer: Buffer;
}

export const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  subjectAltName: '2.5.29.17',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? derSequence(derOid(oid), DER_TRUE, derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

/** The issuer's subject Name, byte for byte as in its certificate (so name chaining matches exactly). */
export function subjectNameDer(certDer: Buffer): Buffer {
  const cert = readDerElement(certDer, 0);
  const [tbs] = readDerChildren(certDer, cert);
  const fields = readDerChildren(certDer, tbs);
  const first = fields[0].tag === 0xa0 ? 1 : 0; // [0] version is optional
  const subject = fields[first + 4];
  return certDer.subarray(subject.start, subject.end);
}

/** The issuer's own subjectKeyIdentifier if it has one; otherwise the RFC 5280 SHA-1 of its key. */
function issuerKeyIdentifier(certDer: Buffer): Buffer {
  const cert = new x509.X509Certificate(certDer);
  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return Buffer.from(ski.keyId, 'hex');
  const spki = Buffer.from(cert.publicKey.rawData);
  return subjectKeyIdentifier(publicKeyBitsOf(spki));
}

export function createLeafTemplate(issuerCertPem: string, issuerKeyPem: string): LeafTemplate {
  const [certDer] = pemDecodeAll('CERTIFICATE', issuerCertPem);
  if (!certDer) throw new Error('issuer certificate: no PEM CERTIFICATE block');
  const issuerKey = crypto.createPrivateKey(issuerKeyPem);
  const scheme = signatureSchemeFor(issuerKey);
  const issuerCert = new crypto.X509Certificate(certDer);
  if (!issuerCert.checkPrivateKey(issuerKey)) throw new Error('issuer key does not match the issuer certificate');

  const keyUsageDigitalSignature = derBitString(Buffer.from([0x80]), 7);
  const fixedExtensionsDer = Buffer.concat([
    extension(OID.basicConstraints, true, derSequence()),
    extension(OID.keyUsage, true, keyUsageDigitalSignature),
    extension(OID.extKeyUsage, false, derSequence(derOid(OID.serverAuth), derOid(OID.clientAuth))),
    extension(OID.authorityKeyIdentifier, false, derSequence(tlv(0x80, issuerKeyIdentifier(certDer)))),
  ]);
  return {
    issuerKey,
    scheme,
    issuerNotAfterMs: Date.parse(issuerCert.validTo),
    versionDer: derExplicit(0, Buffer.from([0x02, 0x01, 0x02])),
    signatureAlgorithmDer: Buffer.from(scheme.algorithmIdentifierHex, 'hex'),
    issuerNameDer: subjectNameDer(certDer),
    emptySubjectDer: derSequence(),
    fixedExtensionsDer,
  };
}

export interface LeafFields {
  /** Positive serial, big-endian bytes. */
  readonly serial: Buffer;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  readonly spiffeId: string;
  /** Extra SANs for peers that check host names (the xDS server's own certificate). */
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly spkiDer: Buffer;
  readonly publicKeyBits: Buffer;
}

/** TBSCertificate for a SPIFFE leaf: empty subject, so the URI SAN is critical (RFC 5280 §4.2.1.6). */
export function buildLeafTbs(template: LeafTemplate, fields: LeafFields): Buffer {
  const names = [
    retag(derIa5String(fields.spiffeId), 0x86),
    ...(fields.dnsNames ?? []).map((name) => retag(derIa5String(name), 0x82)),
    ...(fields.ipAddresses ?? []).map((ip) => tlv(0x87, ipAddressBytes(ip))),
  ];
  const san = extension(OID.subjectAltName, true, derSequence(...names));
  const ski = extension(OID.subjectKeyIdentifier, false, derOctetString(subjectKeyIdentifier(fields.publicKeyBits)));
  return derSequence(
    template.versionDer,
    derUnsignedInteger(fields.serial),
    template.signatureAlgorithmDer,
    template.issuerNameDer,
    derSequence(derTime(fields.notBeforeMs), derTime(fields.notAfterMs)),
    template.emptySubjectDer,
    fields.spkiDer,
    derExplicit(3, derSequence(san, template.fixedExtensionsDer, ski)),
  );
}

/** GeneralName iPAddress: 4 or 16 network-order bytes. */
export function ipAddressBytes(ip: string): Buffer {
  const version = net.isIP(ip);
  if (version === 4) return Buffer.from(ip.split('.').map(Number));
  if (version !== 6) throw new Error(`ipAddresses: "${ip}" is not an IP address`);
  let text = ip.replace(/%.*$/, '');
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4[1].split('.').map(Number);
    text = text.slice(0, -v4[1].length) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((group, i) => out.writeUInt16BE(parseInt(group, 16), i * 2));
  return out;
}

/** GeneralName uniformResourceIdentifier is [6] IMPLICIT IA5String (dNSName [2] likewise). */
function retag(der: Buffer, tag: number): Buffer {
  const copy = Buffer.from(der);
  copy[0] = tag;
  return copy;
}

export function signLeafTbs(template: LeafTemplate, tbs: Buffer): Buffer {
  const signature = crypto.sign(template.scheme.hash, tbs, template.issuerKey);
  return derSequence(tbs, template.signatureAlgorithmDer, derBitString(signature));
}
