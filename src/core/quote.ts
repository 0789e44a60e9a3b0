/** Caller-supplied text quoted in an error is cut to this many characters. */
export const QUOTED_INPUT_LIMIT = 80;

/** `text`, cut to `limit` characters with a note of the full length, for messages that quote input. */
export function clip(text: string, limit = QUOTED_INPUT_LIMIT): string {
  return text.length > limit ? `${text.slice(0, limit)}…(${text.length} chars)` : text;
}
