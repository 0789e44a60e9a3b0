import crypto from 'node:crypto';

type Algorithm = 'sha1' | 'sha256';
type Data = string | Uint8Array;

// One-shot hashing (Node ≥ 20.12) skips the Hash object: about half the cost of createHash for the
// short inputs hashed per resource, per proxy key and per certificate.
const oneShot = (crypto as { hash?: (algorithm: string, data: Data, encoding: string) => string | Buffer }).hash;

/** The digest of `data`, encoded. */
export function digest(algorithm: Algorithm, data: Data, encoding: 'base64url' | 'hex'): string {
  if (oneShot) return oneShot(algorithm, data, encoding) as string;
  return crypto.createHash(algorithm).update(data).digest(encoding);
}

/** The digest of `data`, as bytes. */
export function digestBytes(algorithm: Algorithm, data: Data): Buffer {
  if (oneShot) return oneShot(algorithm, data, 'buffer') as Buffer;
  return crypto.createHash(algorithm).update(data).digest();
}
