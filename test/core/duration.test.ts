import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/core/duration.js';

describe('durations', () => {
  it.each([
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['24h', 86_400_000],
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    ['1.5s', 1500],
    ['0.25h', 900_000],
    ['0s', 0],
  ])('parses %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toEqual({ ok: true, ms });
  });

  it.each([
    ['', 'empty string'],
    ['5', 'got "5"'],
    ['5 s', 'got "5 s"'],
    ['-1s', 'got "-1s"'],
    ['1d', 'got "1d"'],
    ['30s1m', 'largest first'],
    ['1s1s', 'largest first'],
    ['1.5ms', 'whole number of milliseconds'],
    ['1e3ms', 'got "1e3ms"'],
  ])('rejects %j (%s)', (text, fragment) => {
    const parsed = parseDuration(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toContain(fragment);
  });

  it.each([
    [0, '0s'],
    [250, '250ms'],
    [90_500, '1m30s500ms'],
    [5_400_000, '1h30m'],
    [86_400_000, '24h'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('format and parse are inverse for whole milliseconds', () => {
    for (const ms of [1, 999, 1000, 59_999, 3_600_001, 123_456_789]) {
      expect(parseDuration(formatDuration(ms))).toEqual({ ok: true, ms });
    }
  });
});
