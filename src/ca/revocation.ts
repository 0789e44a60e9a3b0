import { IssuanceError } from './errors.js';

/** One revoked certificate, kept until it would have expired anyway. */
export interface RevokedCertificate {
  readonly serial: string;
  readonly revokedAt: number;
  /** After this the certificate is invalid regardless, and the entry leaves the CRL. */
  readonly notAfter: number;
  readonly spiffeId?: string;
}

export interface RevocationState {
  readonly certificates: readonly RevokedCertificate[];
  readonly identities: readonly { readonly spiffeId: string; readonly revokedAt: number }[];
}

/**
 * Revoked serials and identities, plus the issued-certificate ledger that lets revoking an identity
 * revoke every live certificate it holds. Serialisable so a composition root can persist it.
 */
export class RevocationList {
  private readonly certificates = new Map<string, RevokedCertificate>();
  private readonly identities = new Map<string, number>();
  /** spiffeId -> serial -> notAfter, for certificates still valid. */
  private readonly issued = new Map<string, Map<string, number>>();
  private changes = 0;

  /** Bumped on every revocation: a CRL built at an older revision is stale. */
  get revision(): number {
    return this.changes;
  }

  recordIssued(spiffeId: string, serial: string, notAfter: number): void {
    let serials = this.issued.get(spiffeId);
    if (!serials) this.issued.set(spiffeId, (serials = new Map()));
    serials.set(serial, notAfter);
  }

  /**
   * `notAfter` when the serial was not issued by this replica: how long the CRL must carry it
   * (callers pass the issuer's expiry or the maximum leaf TTL from now).
   */
  revokeSerial(serial: string, now: number, fallbackNotAfter: number): RevokedCertificate {
    const normalized = normalizeSerial(serial);
    for (const [spiffeId, serials] of this.issued) {
      const notAfter = serials.get(normalized);
      if (notAfter !== undefined) return this.add({ serial: normalized, revokedAt: now, notAfter, spiffeId });
    }
    return this.add({ serial: normalized, revokedAt: now, notAfter: fallbackNotAfter });
  }

  /** Revokes every live certificate of the identity and refuses it new ones. */
  revokeIdentity(spiffeId: string, now: number): RevokedCertificate[] {
    if (!this.identities.has(spiffeId)) this.identities.set(spiffeId, now);
    this.changes++;
    const revoked: RevokedCertificate[] = [];
    for (const [serial, notAfter] of this.issued.get(spiffeId) ?? []) {
      if (notAfter > now) revoked.push(this.add({ serial, revokedAt: now, notAfter, spiffeId }));
    }
    return revoked;
  }

  isIdentityRevoked(spiffeId: string): boolean {
    return this.identities.has(spiffeId);
  }

  isSerialRevoked(serial: string): boolean {
    return this.certificates.has(normalizeSerial(serial));
  }

  /** Entries a CRL at `now` must list. */
  activeEntries(now: number): RevokedCertificate[] {
    return [...this.certificates.values()].filter((entry) => entry.notAfter > now);
  }

  /** Forgets expired certificates from the ledger and the list (they are invalid anyway). */
  prune(now: number): void {
    for (const [serial, entry] of this.certificates) if (entry.notAfter <= now) this.certificates.delete(serial);
    for (const [spiffeId, serials] of this.issued) {
      for (const [serial, notAfter] of serials) if (notAfter <= now) serials.delete(serial);
      if (serials.size === 0) this.issued.delete(spiffeId);
    }
  }

  /**
   * Adds everything in `state` (from another replica). A newly learned identity revocation also
   * revokes the certificates this replica issued to it. Returns whether anything was new.
   */
  merge(state: RevocationState): boolean {
    let changed = false;
    for (const entry of state.certificates) {
      const serial = normalizeSerial(entry.serial);
      if (!this.certificates.has(serial)) {
        this.add({ ...entry, serial });
        changed = true;
      }
    }
    for (const { spiffeId, revokedAt } of state.identities) {
      if (!this.identities.has(spiffeId)) {
        this.revokeIdentity(spiffeId, revokedAt);
        changed = true;
      }
    }
    return changed;
  }

  toState(): RevocationState {
    return {
      certificates: [...this.certificates.values()],
      identities: [...this.identities].map(([spiffeId, revokedAt]) => ({ spiffeId, revokedAt })),
    };
  }

  static fromState(state: RevocationState): RevocationList {
    const list = new RevocationList();
    for (const entry of state.certificates) list.certificates.set(normalizeSerial(entry.serial), entry);
    for (const { spiffeId, revokedAt } of state.identities) list.identities.set(spiffeId, revokedAt);
    return list;
  }

  private add(entry: RevokedCertificate): RevokedCertificate {
    this.certificates.set(entry.serial, entry);
    this.changes++;
    return entry;
  }
}

/** RFC 5280 §4.1.2.2: at most 20 octets. */
const MAX_SERIAL_HEX_DIGITS = 40;

/**
 * A serial as an operator gives it: hex, optionally with ":" between octets (as `openssl x509
 * -serial` and most tools print it). Throws IssuanceError(INVALID_SERIAL) for anything else.
 */
export function parseSerial(input: string): string {
  const hex = input.replace(/:/g, '');
  if (!/^[0-9A-Fa-f]+$/.test(hex)) {
    throw new IssuanceError('INVALID_SERIAL', 'serial', `${JSON.stringify(input.slice(0, 64))} is not a hex serial number (digits 0-9 and a-f, optionally separated by ":")`);
  }
  const normalized = normalizeSerial(hex);
  if (normalized.length > MAX_SERIAL_HEX_DIGITS) {
    throw new IssuanceError('INVALID_SERIAL', 'serial', `longer than 20 octets (${MAX_SERIAL_HEX_DIGITS} hex digits), the most RFC 5280 allows`);
  }
  return normalized;
}

/** Lower-case hex without sign padding, so "00AB.." and "ab.." are the same serial. */
export function normalizeSerial(serial: string): string {
  const hex = serial.toLowerCase().replace(/[^0-9a-f]/g, '').replace(/^(00)+(?=[0-9a-f]{2})/, '');
  return hex.length % 2 === 1 ? '0' + hex : hex;
}
