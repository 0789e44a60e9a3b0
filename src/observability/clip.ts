/** Longest client-supplied string written to a log line, in characters (before the marker). */
export const LOG_STRING_LIMIT = 256;

/**
 * A client-supplied string as it may appear in a log line: cut to `limit` characters, with the
 * original length said, so a megabyte node id or NACK detail costs a log line its usual size.
 */
export function clip(value: string | undefined, limit = LOG_STRING_LIMIT): string | undefined {
  if (value === undefined || value.length <= limit) return value;
  return `${value.slice(0, limit)}…[${value.length} chars]`;
}
