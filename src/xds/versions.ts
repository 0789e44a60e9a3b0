import { digest, digestBytes } from '../core/digest.js';

/**
 * Content-derived versions: identical across replicas and restarts, so a proxy that reconnects
 * elsewhere is sent nothing it already has.
 */
export function contentVersion(bytes: Uint8Array): string {
  return digest('sha256', bytes, 'base64url').slice(0, 22);
}

/** Each lane of a member digest, and each lane's sum, is 24 bits: small integers, no overflow or float arithmetic. */
const LANE = 0xffffff;

/** One resource's share of a set version: 96 bits of sha256(name, version), as four 24-bit integers. */
export type MemberDigest = readonly [number, number, number, number];

export function memberDigest(entry: { readonly name: string; readonly version: string }): MemberDigest {
  const bytes = digestBytes('sha256', `${entry.name}\0${entry.version}`);
  return [bytes.readUIntBE(0, 3), bytes.readUIntBE(3, 3), bytes.readUIntBE(6, 3), bytes.readUIntBE(9, 3)];
}

/**
 * The version of a set of resources from its members' digests: their count and the sums of each
 * 24-bit lane modulo 2^24. Order does not matter, so nothing is sorted, and a member's digest is
 * computed once per resource (SharedResponses caches it), not once per response: a response's
 * version costs a few additions however many proxies it goes to. Two different sets share a
 * version with odds of about 2^-96.
 */
export function versionOfMembers(members: readonly MemberDigest[]): string {
  let a = 0;
  let b = 0;
  let c = 0;
  let d = 0;
  for (const member of members) {
    a = (a + member[0]) & LANE;
    b = (b + member[1]) & LANE;
    c = (c + member[2]) & LANE;
    d = (d + member[3]) & LANE;
  }
  return `${members.length.toString(36)}.${lane(a)}${lane(b)}${lane(c)}${lane(d)}`;
}

function lane(value: number): string {
  return value.toString(16).padStart(6, '0');
}

/** The version of a set of resources (names and versions), independent of their order. */
export function setVersion(entries: readonly { readonly name: string; readonly version: string }[]): string {
  return versionOfMembers(entries.map(memberDigest));
}
