import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CaKeyPair } from './ca-certs.js';
import { derBitString, derExplicit, derOctetString, derOid, derSequence, derSmallInteger, derTime, derUnsignedInteger, pemDecodeAll, pemEncode, tlv } from './der.js';
import { signatureSchemeFor } from './keys.js';
import { subjectNameDer } from './leaf-template.js';

export interface CrlEntry {
  readonly serial: string;
  readonly revokedAt: number;
}

export interface SignedCrl {
  readonly pem: string;
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  readonly crlNumber: number;
}

const CRL_NUMBER_OID = '2.5.29.20';
const AUTHORITY_KEY_IDENTIFIER_OID = '2.5.29.35';

function extension(oid: string, value: Buffer): Buffer {
  return derSequence(derOid(oid), derOctetString(value));
}

/**
 * An X.509 v2 CRL (RFC 5280 §5) signed by `issuer`, with authorityKeyIdentifier and cRLNumber,
 * written with the DER helpers the leaf issuer uses. Optional parts are left out when empty:
 * `revokedCertificates` without entries, and every entry's `crlEntryExtensions` (none are
 * written). BoringSSL, and so Envoy, refuses a CRL whose entries carry an empty extensions
 * SEQUENCE ("Failed to load CRL"), although OpenSSL reads it.
 */
export async function createCrl(options: {
  readonly issuer: CaKeyPair;
  readonly entries: readonly CrlEntry[];
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  readonly crlNumber: number;
}): Promise<SignedCrl> {
  const [issuerDer] = pemDecodeAll('CERTIFICATE', options.issuer.certPem);
  if (!issuerDer) throw new Error('CRL issuer: no PEM CERTIFICATE block');
  const issuerKey = crypto.createPrivateKey(options.issuer.keyPem);
  const scheme = signatureSchemeFor(issuerKey);
  const algorithm = Buffer.from(scheme.algorithmIdentifierHex, 'hex');
  const ski = new x509.X509Certificate(issuerDer).getExtension(x509.SubjectKeyIdentifierExtension);
  const extensions = [
    // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING }
    ...(ski ? [extension(AUTHORITY_KEY_IDENTIFIER_OID, derSequence(tlv(0x80, Buffer.from(ski.keyId, 'hex'))))] : []),
    extension(CRL_NUMBER_OID, derSmallInteger(options.crlNumber)),
  ];
  const revoked = options.entries.map((entry) =>
    derSequence(derUnsignedInteger(Buffer.from(entry.serial.length % 2 === 1 ? `0${entry.serial}` : entry.serial, 'hex')), derTime(entry.revokedAt)),
  );
  const tbs = derSequence(
    derSmallInteger(1), // v2
    algorithm,
    subjectNameDer(issuerDer),
    derTime(options.thisUpdate),
    derTime(options.nextUpdate),
    ...(revoked.length > 0 ? [derSequence(...revoked)] : []),
    derExplicit(0, derSequence(...extensions)),
  );
  // node:crypto signs ECDSA as a DER ECDSA-Sig-Value and RSA as PKCS#1 v1.5, as X.509 wants.
  const signature = crypto.sign(scheme.hash, tbs, issuerKey);
  return {
    // OpenSSL (and so Envoy and node:tls) reads only the "X509 CRL" PEM label.
    pem: pemEncode('X509 CRL', derSequence(tbs, algorithm, derBitString(signature))),
    thisUpdate: options.thisUpdate,
    nextUpdate: options.nextUpdate,
    crlNumber: options.crlNumber,
  };
}

/**
 * True once `refreshAt` of the CRL's validity has passed (default: half-way). An expired CRL fails
 * every handshake in Envoy, so it is re-signed well before `nextUpdate`.
 */
export function crlNeedsRefresh(
  crl: { readonly thisUpdate: number; readonly nextUpdate: number },
  now: number,
  refreshAt = 0.5,
): boolean {
  return now >= crl.thisUpdate + (crl.nextUpdate - crl.thisUpdate) * refreshAt;
}
