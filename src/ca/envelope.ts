import crypto from 'node:crypto';

/** A key-encryption key: 32 bytes and an id recorded in every envelope it seals. */
export interface Kek {
  readonly id: string;
  readonly key: Buffer;
}

/** What is stored: AES-256-GCM ciphertext with the id of the KEK that sealed it. */
export interface Envelope {
  readonly v: 1;
  readonly alg: 'A256GCM';
  readonly kid: string;
  readonly iv: string;
  readonly tag: string;
  readonly ct: string;
}

export class KekError extends Error {
  readonly code = 'KEK_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'KekError';
  }
}

/**
 * Parses a KEK given as base64 (or base64url) or hex of exactly 32 bytes. The id defaults to a
 * short SHA-256 fingerprint, so replicas with the same key agree on it without configuration.
 */
export function parseKek(encoded: string, id?: string, field = 'ACCORD_CA_KEK'): Kek {
  const text = encoded.trim();
  let key: Buffer | undefined;
  if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) key = Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
  if (!key || key.length !== 32) throw new KekError(`${field}: expected 32 bytes as base64 or hex`);
  const kid = id ?? 'kek-' + crypto.createHash('sha256').update('accord-kek-id').update(key).digest('hex').slice(0, 16);
  return { id: kid, key };
}

/** The KEK from `ACCORD_CA_KEK` (and optional `ACCORD_CA_KEK_ID`); undefined if unset. */
export function kekFromEnv(env: NodeJS.ProcessEnv): Kek | undefined {
  const value = env.ACCORD_CA_KEK;
  if (value === undefined || value === '') return undefined;
  return parseKek(value, env.ACCORD_CA_KEK_ID || undefined);
}

/** `context` is authenticated (not encrypted): an envelope sealed for one key cannot be replayed under another. */
export function seal(kek: Kek, plaintext: string, context: string): Envelope {
  const iv = crypto.randomBytes(12);
  const cipher = crypto.createCipheriv('aes-256-gcm', kek.key, iv);
  cipher.setAAD(Buffer.from(`${kek.id}\n${context}`));
  const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return {
    v: 1,
    alg: 'A256GCM',
    kid: kek.id,
    iv: iv.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
    ct: ct.toString('base64'),
  };
}

export function open(kek: Kek, envelope: Envelope, context: string): string {
  if (envelope.v !== 1 || envelope.alg !== 'A256GCM') throw new KekError(`envelope: unsupported format v=${String(envelope.v)} alg=${String(envelope.alg)}`);
  if (envelope.kid !== kek.id) throw new KekError(`envelope: sealed with KEK "${envelope.kid}", but the configured KEK is "${kek.id}"`);
  const decipher = crypto.createDecipheriv('aes-256-gcm', kek.key, Buffer.from(envelope.iv, 'base64'));
  decipher.setAAD(Buffer.from(`${kek.id}\n${context}`));
  decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new KekError(`envelope for "${context}": authentication failed (wrong KEK or tampered data)`);
  }
}
