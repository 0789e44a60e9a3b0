import crypto from 'node:crypto';

/**
 * A key-encryption key: 32 bytes and an id recorded in every envelope it seals. `previous` is the
 * KEK it replaces during a rotation: envelopes naming it are still opened (and then re-sealed).
 */
export interface Kek {
  readonly id: string;
  readonly key: Buffer;
  readonly previous?: Kek;
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

/**
 * The KEK from `ACCORD_CA_KEK` (and optional `ACCORD_CA_KEK_ID`), with the one it replaces from
 * `ACCORD_CA_KEK_PREVIOUS` (and `ACCORD_CA_KEK_PREVIOUS_ID`); undefined if unset.
 */
export function kekFromEnv(env: NodeJS.ProcessEnv): Kek | undefined {
  const value = env.ACCORD_CA_KEK;
  const previousValue = env.ACCORD_CA_KEK_PREVIOUS;
  if (value === undefined || value === '') {
    if (previousValue) throw new KekError('ACCORD_CA_KEK_PREVIOUS: set only together with ACCORD_CA_KEK (the current KEK)');
    return undefined;
  }
  const current = parseKek(value, env.ACCORD_CA_KEK_ID || undefined);
  if (previousValue === undefined || previousValue === '') return current;
  const previous = parseKek(previousValue, env.ACCORD_CA_KEK_PREVIOUS_ID || undefined, 'ACCORD_CA_KEK_PREVIOUS');
  if (previous.id === current.id) {
    throw new KekError('ACCORD_CA_KEK_PREVIOUS: has the same id as ACCORD_CA_KEK; give the new KEK a new key (or a new ACCORD_CA_KEK_ID)');
  }
  return { ...current, previous };
}

/** Whether this envelope was sealed with an older KEK than the current one (and should be re-sealed). */
export function sealedWithPrevious(kek: Kek, envelope: Envelope): boolean {
  return envelope.kid !== kek.id && envelope.kid === kek.previous?.id;
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

export function open(configured: Kek, envelope: Envelope, context: string): string {
  if (envelope.v !== 1 || envelope.alg !== 'A256GCM') throw new KekError(`envelope: unsupported format v=${String(envelope.v)} alg=${String(envelope.alg)}`);
  const kek = envelope.kid === configured.id ? configured : envelope.kid === configured.previous?.id ? configured.previous : undefined;
  if (!kek) {
    const known = [configured.id, configured.previous?.id].filter(Boolean).map((id) => `"${String(id)}"`).join(' and ');
    throw new KekError(`envelope: sealed with KEK "${envelope.kid}", but the configured KEK${configured.previous ? 's are' : ' is'} ${known}`);
  }
  const decipher = crypto.createDecipheriv('aes-256-gcm', kek.key, Buffer.from(envelope.iv, 'base64'));
  decipher.setAAD(Buffer.from(`${kek.id}\n${context}`));
  decipher.setAuthTag(Buffer.from(envelope.tag, 'base64'));
  try {
    return Buffer.concat([decipher.update(Buffer.from(envelope.ct, 'base64')), decipher.final()]).toString('utf8');
  } catch {
    throw new KekError(`envelope for "${context}": authentication failed (wrong KEK or tampered data)`);
  }
}
