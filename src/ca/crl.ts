import 'reflect-metadata';
import crypto from 'node:crypto';
import * as x509 from '@peculiar/x509';
import type { CaKeyPair } from './ca-certs.js';
import { derSmallInteger, pemEncode } from './der.js';
import { signatureSchemeFor, toCryptoSigningKey } from './keys.js';

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

/** An X.509 v2 CRL signed by `issuer`, with authorityKeyIdentifier and cRLNumber. */
export async function createCrl(options: {
  readonly issuer: CaKeyPair;
  readonly entries: readonly CrlEntry[];
  readonly thisUpdate: number;
  readonly nextUpdate: number;
  readonly crlNumber: number;
}): Promise<SignedCrl> {
  const issuerCert = new x509.X509Certificate(options.issuer.certPem);
  const ski = issuerCert.getExtension(x509.SubjectKeyIdentifierExtension);
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuerCert.subjectName,
    thisUpdate: new Date(options.thisUpdate),
    nextUpdate: new Date(options.nextUpdate),
    signingKey: await toCryptoSigningKey(options.issuer.keyPem),
    signingAlgorithm: signatureSchemeFor(crypto.createPrivateKey(options.issuer.keyPem)).webCrypto,
    extensions: [
      ...(ski ? [new x509.AuthorityKeyIdentifierExtension(ski.keyId)] : []),
      new x509.Extension(CRL_NUMBER_OID, false, derSmallInteger(options.crlNumber)),
    ],
    entries: options.entries.map((entry) => ({
      serialNumber: entry.serial,
      revocationDate: new Date(entry.revokedAt),
    })),
  });
  return {
    // OpenSSL (and so Envoy and node:tls) reads only the "X509 CRL" PEM label.
    pem: pemEncode('X509 CRL', Buffer.from(crl.rawData)),
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
