/**
 * The one duration grammar (policies, registrations, command-line flags): as operators write them: a sequence of `<number><unit>` parts with units
 * `h`, `m`, `s` and `ms`, largest first ("250ms", "30s", "1h30m", "1.5s"). The result is a
 * whole number of milliseconds.
 */
import { clip } from './quote.js';

const UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };
const UNIT_ORDER = ['h', 'm', 's', 'ms'];
const PART = /(\d+(?:\.\d+)?)(ms|h|m|s)/y;

export type DurationParse = { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly reason: string };

export function parseDuration(text: string): DurationParse {
  const invalid = (reason: string): DurationParse => ({ ok: false, reason });
  if (text === '') return invalid('expected a duration such as "250ms", "30s", "5m" or "1h30m", got an empty string');
  let total = 0;
  let position = 0;
  let lastUnitRank = -1;
  while (position < text.length) {
    PART.lastIndex = position;
    const match = PART.exec(text);
    if (!match) {
      return invalid(`expected a duration such as "250ms", "30s", "5m" or "1h30m", got ${JSON.stringify(clip(text))}`);
    }
    const [whole, amount, unit] = match as unknown as [string, string, string];
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank <= lastUnitRank) {
      return invalid(`duration ${JSON.stringify(clip(text))}: units must appear once each, largest first (h, m, s, ms)`);
    }
    lastUnitRank = rank;
    total += Number(amount) * (UNIT_MS[unit] ?? 0);
    position += whole.length;
  }
  // Decimal parts are exact only to the millisecond; reject anything finer rather than round silently.
  const rounded = Math.round(total);
  if (Math.abs(total - rounded) > 1e-6) {
    return invalid(`duration ${JSON.stringify(clip(text))} is not a whole number of milliseconds`);
  }
  if (!Number.isSafeInteger(rounded)) return invalid(`duration ${JSON.stringify(clip(text))} is too large`);
  return { ok: true, ms: rounded };
}

/** The canonical string for a number of milliseconds; `parseDuration(formatDuration(ms))` gives `ms` back. */
export function formatDuration(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new RangeError(`duration: ${ms} is not a non-negative whole number of milliseconds`);
  if (ms === 0) return '0s';
  let rest = ms;
  let text = '';
  for (const unit of UNIT_ORDER) {
    const size = UNIT_MS[unit] ?? 1;
    const count = Math.floor(rest / size);
    if (count > 0) {
      text += `${count}${unit}`;
      rest -= count * size;
    }
  }
  return text;
}
