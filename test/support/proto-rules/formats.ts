import { isIP } from 'node:net';

/** The string formats protoc-gen-validate knows as `well_known` string rules. */
export type StringFormat = 'email' | 'hostname' | 'ip' | 'ipv4' | 'ipv6' | 'uri' | 'uri_ref' | 'address' | 'uuid';

export const STRING_FORMATS: readonly StringFormat[] = [
  'email',
  'hostname',
  'ip',
  'ipv4',
  'ipv6',
  'uri',
  'uri_ref',
  'address',
  'uuid',
];

export function matchesFormat(format: StringFormat, value: string): boolean {
  switch (format) {
    case 'email':
      return isEmail(value);
    case 'hostname':
      return isHostname(value);
    case 'ip':
      return isIP(value) !== 0;
    case 'ipv4':
      return isIP(value) === 4;
    case 'ipv6':
      return isIP(value) === 6;
    case 'uri':
      return isUriReference(value) && URI_SCHEME.test(value);
    case 'uri_ref':
      return isUriReference(value);
    case 'address':
      return isHostname(value) || isIP(value) !== 0;
    case 'uuid':
      return /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(value);
  }
}

/** RFC 1034 host name: dot-separated labels of letters, digits and inner hyphens. */
function isHostname(value: string): boolean {
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(label));
}

function isEmail(value: string): boolean {
  const at = value.lastIndexOf('@');
  if (at <= 0) return false;
  const local = value.slice(0, at);
  return local.length <= 64 && /^[^\s@<>()[\]\\,;:"]+$/.test(local) && isHostname(value.slice(at + 1));
}

const URI_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;
/** RFC 3986 characters: unreserved, reserved, and percent-encoded octets. */
const URI_CHARACTERS = /^(?:[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$/;

function isUriReference(value: string): boolean {
  if (!URI_CHARACTERS.test(value)) return false;
  // A '[' or ']' is allowed only around an IP literal host.
  const withoutIpLiteral = value.replace(/^([A-Za-z][A-Za-z0-9+.-]*:)?\/\/([^/?#@]*@)?\[[0-9A-Fa-f:.]+\]/, '');
  return !/[[\]]/.test(withoutIpLiteral);
}

export type KnownRegex = 'HTTP_HEADER_NAME' | 'HTTP_HEADER_VALUE';

/** validate.KnownRegex by name or number, or undefined for UNKNOWN and unrecognised values. */
export function knownRegexOf(value: unknown): KnownRegex | undefined {
  if (value === 'HTTP_HEADER_NAME' || value === 1) return 'HTTP_HEADER_NAME';
  if (value === 'HTTP_HEADER_VALUE' || value === 2) return 'HTTP_HEADER_VALUE';
  return undefined;
}

// RFC 7230 token, optionally with HTTP/2's leading ':' for pseudo-headers. protoc-gen-validate's
// class writes `+-.` unescaped, a range that also admits ','; Envoy accepts what that admits.
const STRICT_HEADER_NAME = /^:?[0-9A-Za-z!#$%&'*+,\-.^_|~`]+$/;
// RFC 7230 field-value: no control characters except horizontal tab.
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const STRICT_HEADER_VALUE = /^[^\u0000-\u0008\u000A-\u001F\u007F]*$/;
// With `strict: false` only NUL, CR and LF are refused, for names and values alike.
// eslint-disable-next-line no-control-regex -- refusing control characters is the point
const LOOSE_HEADER = /^[^\u0000\u000A\u000D]*$/;

export function matchesKnownRegex(regex: KnownRegex, strict: boolean, value: string): boolean {
  if (!strict) return LOOSE_HEADER.test(value);
  return regex === 'HTTP_HEADER_NAME' ? STRICT_HEADER_NAME.test(value) : STRICT_HEADER_VALUE.test(value);
}
