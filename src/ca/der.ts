/**
 * A tiny DER writer (and an element reader) for the fixed shapes the leaf issuer and CRLs need.
 * Only definite lengths; only the universal types used by X.509 leaves.
 */

export function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), derLength(content.length), content]);
}

export function derSequence(...parts: Uint8Array[]): Buffer {
  return tlv(0x30, Buffer.concat(parts));
}

/** An INTEGER from unsigned big-endian bytes: leading zeros stripped, a 0x00 added if the high bit is set. */
export function derUnsignedInteger(bytes: Uint8Array): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const body = Buffer.from(bytes.subarray(start));
  return tlv(0x02, body[0] >= 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

export function derSmallInteger(value: number): Buffer {
  if (!Number.isInteger(value) || value < 0 || value > 0x7fffffff) throw new RangeError(`derSmallInteger: ${value}`);
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return derUnsignedInteger(Buffer.from(bytes.length ? bytes : [0]));
}

export function derOid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((arc) => {
    if (!/^\d+$/.test(arc)) throw new Error(`derOid: bad arc in ${dotted}`);
    return Number(arc);
  });
  if (arcs.length < 2) throw new Error(`derOid: ${dotted} has fewer than two arcs`);
  const out: number[] = [arcs[0] * 40 + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift(0x80 | (n & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export const DER_NULL: Buffer = Buffer.from([0x05, 0x00]);
export const DER_TRUE: Buffer = Buffer.from([0x01, 0x01, 0xff]);

export function derOctetString(content: Uint8Array): Buffer {
  return tlv(0x04, content);
}

export function derBitString(content: Uint8Array, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
}

export function derIa5String(text: string): Buffer {
  if ([...text].some((ch) => ch.charCodeAt(0) > 0x7f)) throw new Error(`derIa5String: non-ASCII text ${JSON.stringify(text)}`);
  return tlv(0x16, Buffer.from(text, 'ascii'));
}

export function derExplicit(tagNumber: number, content: Uint8Array): Buffer {
  return tlv(0xa0 | tagNumber, content);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, Zulu. */
export function derTime(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-11-23T11:30:21.000Z
  const year = Number(iso.slice(0, 4));
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z'; // 20261123113021Z
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(digits.slice(2), 'ascii'));
  return tlv(0x18, Buffer.from(digits, 'ascii'));
}

/** One parsed element: where its tag, content and end are in the buffer. */
export interface DerElement {
  readonly tag: number;
  readonly start: number;
  readonly contentStart: number;
  readonly end: number;
}

export function readDerElement(buf: Uint8Array, offset: number): DerElement {
  if (offset + 2 > buf.length) throw new Error(`DER: truncated element at offset ${offset}`);
  const tag = buf[offset];
  let length = buf[offset + 1];
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error(`DER: unsupported length form at offset ${offset}`);
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + buf[contentStart + i];
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > buf.length) throw new Error(`DER: element at offset ${offset} overruns the buffer`);
  return { tag, start: offset, contentStart, end };
}

/** The direct children of a constructed element. */
export function readDerChildren(buf: Uint8Array, parent: DerElement): DerElement[] {
  const children: DerElement[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readDerElement(buf, at);
    children.push(child);
    at = child.end;
  }
  return children;
}

export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64');
  let body = '';
  for (let i = 0; i < b64.length; i += 64) body += b64.slice(i, i + 64) + '\n';
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/** Every PEM block with this label, as DER, in order. */
export function pemDecodeAll(label: string, pem: string): Buffer[] {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, 'g');
  return [...pem.matchAll(re)].map((m) => Buffer.from(m[1].replace(/\s+/g, ''), 'base64'));
}

/** Splits a PEM bundle into its certificate blocks (normalised, each ending in a newline). */
export function splitCertificates(pem: string): string[] {
  return pemDecodeAll('CERTIFICATE', pem).map((der) => pemEncode('CERTIFICATE', der));
}
