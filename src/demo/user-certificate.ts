/**
 * The demo gateway's user-facing certificate: self-signed for `localhost`, written as the
 * `tls.crt` / `tls.key` pair the gateway's Envoy reads (`<dir>/tls.crt`, `<dir>/tls.key`).
 * Browsers warn about it (nobody vouches for it); `curl --cacert <dir>/tls.crt` trusts it.
 */
import 'reflect-metadata';
import crypto from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as x509 from '@peculiar/x509';
import { pemEncode } from '../ca/der.js';

const VALIDITY_MS = 7 * 24 * 3600_000;
const BACKDATE_MS = 60_000;

export interface UserCertificateFiles {
  readonly chain: string;
  readonly key: string;
}

export async function writeSelfSignedCertificate(dir: string, host: string, now = Date.now()): Promise<UserCertificateFiles> {
  const keys = (await crypto.webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as crypto.webcrypto.CryptoKeyPair;
  const serial = crypto.randomBytes(16);
  // A positive, non-zero leading byte: a DER INTEGER serial that is positive and of full length.
  serial[0] = (serial[0] ?? 0) & 0x7f || 1;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${host}, O=Accord demo`,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + VALIDITY_MS),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
    ],
  });
  const keyPem = pemEncode('PRIVATE KEY', new Uint8Array(await crypto.webcrypto.subtle.exportKey('pkcs8', keys.privateKey)));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files = { chain: path.join(dir, 'tls.crt'), key: path.join(dir, 'tls.key') };
  writeFileSync(files.key, keyPem, { mode: 0o600 });
  writeFileSync(files.chain, cert.toString('pem') + '\n');
  return files;
}
