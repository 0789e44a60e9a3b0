import crypto, { type KeyObject } from 'node:crypto';
import { pemEncode, readDerChildren, readDerElement } from './der.js';
import { digestBytes } from '../core/digest.js';

/** Leaf key algorithms. ECDSA P-256 is the default; RSA-2048 for peers that need it. */
export type KeyAlgorithm = 'ec-p256' | 'rsa-2048';

export interface LeafKey {
  /** SubjectPublicKeyInfo, DER. */
  readonly spkiDer: Buffer;
  /** The BIT STRING contents of the public key (what the Subject Key Identifier hashes). */
  readonly publicKeyBits: Buffer;
  /** PKCS#8 PEM. */
  readonly privateKeyPem: string;
}

// Fixed DER around a P-256 key's raw parts (RFC 5480 SPKI; RFC 5915 inside RFC 5208 PKCS#8, as
// OpenSSL writes it). Keys come from ECDH keygen on the same curve, which hands back the raw scalar
// and point: asking OpenSSL's encoders for SPKI/PKCS#8 instead costs more than keygen+sign together.
const P256_SPKI_PREFIX = Buffer.from('3059301306072a8648ce3d020106082a8648ce3d030107034200', 'hex');
const P256_PKCS8_PREFIX = Buffer.from(
  '308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420',
  'hex',
);
const P256_PKCS8_PUBLIC_PREFIX = Buffer.from('a144034200', 'hex');

function generateP256(): LeafKey {
  const ecdh = crypto.createECDH('prime256v1');
  const point = ecdh.generateKeys(); // uncompressed: 0x04 || x || y
  const scalar = ecdh.getPrivateKey();
  const d = scalar.length === 32 ? scalar : Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
  const pkcs8 = Buffer.concat([P256_PKCS8_PREFIX, d, P256_PKCS8_PUBLIC_PREFIX, point]);
  return {
    spkiDer: Buffer.concat([P256_SPKI_PREFIX, point]),
    publicKeyBits: point,
    privateKeyPem: pemEncode('PRIVATE KEY', pkcs8),
  };
}

function generateRsa2048(): LeafKey {
  const { publicKey, privateKey } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'der' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  return { spkiDer: publicKey, publicKeyBits: publicKeyBitsOf(publicKey), privateKeyPem: privateKey };
}

export function generateLeafKey(algorithm: KeyAlgorithm = 'ec-p256'): LeafKey {
  switch (algorithm) {
    case 'ec-p256':
      return generateP256();
    case 'rsa-2048':
      return generateRsa2048();
  }
}

/** The subjectPublicKey BIT STRING contents (without the unused-bits byte) of an SPKI. */
export function publicKeyBitsOf(spkiDer: Buffer): Buffer {
  // SPKI ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }
  const [, bitString] = readDerChildren(spkiDer, readDerElement(spkiDer, 0));
  if (!bitString || bitString.tag !== 0x03) throw new Error('SPKI: subjectPublicKey BIT STRING missing');
  return spkiDer.subarray(bitString.contentStart + 1, bitString.end);
}

/** RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. */
export function subjectKeyIdentifier(publicKeyBits: Buffer): Buffer {
  return digestBytes('sha1', publicKeyBits);
}

/** How a CA key signs: the hash and the DER AlgorithmIdentifier that goes in the certificate. */
export interface SignatureScheme {
  readonly hash: 'sha256' | 'sha384';
  readonly algorithmIdentifierHex: string;
  /** WebCrypto parameters, for @peculiar/x509. */
  readonly webCrypto: { name: string; hash: string };
  readonly importParams: { name: string; namedCurve?: string; hash?: string };
}

export function signatureSchemeFor(key: KeyObject): SignatureScheme {
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') {
      return {
        hash: 'sha256',
        algorithmIdentifierHex: '300a06082a8648ce3d040302',
        webCrypto: { name: 'ECDSA', hash: 'SHA-256' },
        importParams: { name: 'ECDSA', namedCurve: 'P-256' },
      };
    }
    if (curve === 'secp384r1') {
      return {
        hash: 'sha384',
        algorithmIdentifierHex: '300a06082a8648ce3d040303',
        webCrypto: { name: 'ECDSA', hash: 'SHA-384' },
        importParams: { name: 'ECDSA', namedCurve: 'P-384' },
      };
    }
    throw new Error(`CA key: unsupported EC curve ${String(curve)}`);
  }
  if (key.asymmetricKeyType === 'rsa') {
    return {
      hash: 'sha256',
      algorithmIdentifierHex: '300d06092a864886f70d01010b0500',
      webCrypto: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
      importParams: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    };
  }
  throw new Error(`CA key: unsupported key type ${String(key.asymmetricKeyType)}`);
}

/** A WebCrypto signing key for @peculiar/x509 from a PKCS#8 PEM. */
export async function toCryptoSigningKey(keyPem: string): Promise<crypto.webcrypto.CryptoKey> {
  const key = crypto.createPrivateKey(keyPem);
  const scheme = signatureSchemeFor(key);
  const pkcs8 = key.export({ type: 'pkcs8', format: 'der' });
  return crypto.webcrypto.subtle.importKey('pkcs8', pkcs8, scheme.importParams, false, ['sign']);
}

export function sha256Fingerprint(der: Uint8Array): string {
  return crypto.createHash('sha256').update(der).digest('hex');
}

/** Curves the CA signs leaves for, by OpenSSL name, with the name operators know them by. */
const ACCEPTED_CURVES: Readonly<Record<string, string>> = { prime256v1: 'P-256', secp384r1: 'P-384' };
const CURVE_NAMES: Readonly<Record<string, string>> = { ...ACCEPTED_CURVES, secp521r1: 'P-521', secp256k1: 'secp256k1' };
export const MIN_RSA_BITS = 2048;
/** Larger RSA keys only cost verification time without adding meaningful strength. */
export const MAX_RSA_BITS = 8192;

/**
 * Why a CSR's public key is not accepted (undefined when it is): only ECDSA P-256, P-384 and
 * RSA with 2048 to 8192 bits. The reason names the key type so the caller can fix it.
 */
export function unacceptableKeyReason(spkiDer: Buffer): string | undefined {
  let key: KeyObject;
  try {
    key = crypto.createPublicKey({ key: spkiDer, format: 'der', type: 'spki' });
  } catch {
    return 'the public key is of an unknown type or does not parse; use ECDSA P-256, P-384 or RSA >= 2048';
  }
  const type = key.asymmetricKeyType ?? 'unknown';
  const details = key.asymmetricKeyDetails ?? {};
  if (type === 'ec') {
    const curve = details.namedCurve ?? 'unknown';
    if (ACCEPTED_CURVES[curve]) return undefined;
    return `ECDSA key on curve ${CURVE_NAMES[curve] ?? curve} (${curve}) is not accepted; use P-256 or P-384`;
  }
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= MIN_RSA_BITS && bits <= MAX_RSA_BITS) return undefined;
    return `RSA-${bits} key is not accepted; RSA keys need ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits`;
  }
  return `key type ${type} is not accepted; use ECDSA P-256, P-384 or RSA >= ${MIN_RSA_BITS}`;
}
