/**
 * How every command prints: a table or sentence for people by default; `-o json` (the HTTP API's
 * own shape) or `-o yaml` for programs. Times are ISO dates, durations read like "in 23h".
 */
import { Option, type Command } from 'commander';
import prettyMilliseconds from 'pretty-ms';
import { stringify } from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';

/** Adds `-o, --output` (and the older `--json`, hidden) to a command. */
export function withOutputOption(command: Command, formats: readonly OutputFormat[] = ['table', 'json', 'yaml']): Command {
  return command
    .addOption(new Option('-o, --output <format>', 'output format').choices([...formats]).default('table'))
    .addOption(new Option('--json', 'same as -o json').hideHelp());
}

export function outputFormat(options: { output?: unknown; json?: unknown }): OutputFormat {
  if (options.json === true) return 'json';
  return options.output === 'json' || options.output === 'yaml' ? options.output : 'table';
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printYaml(value: unknown): void {
  process.stdout.write(stringify(value));
}

/** Prints `value` as JSON or YAML; returns false for the table format (the caller prints that). */
export function printStructured(format: OutputFormat, value: unknown): boolean {
  if (format === 'json') printJson(value);
  else if (format === 'yaml') printYaml(value);
  return format !== 'table';
}

/** Left-aligned columns for human output. */
export function printTable(headers: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

export function say(sentence: string): void {
  process.stdout.write(`${sentence}\n`);
}

/** A duration for people: "23h 59m", "3d 4h", "12s". */
export function humanDuration(ms: number): string {
  return prettyMilliseconds(Math.max(0, ms), { unitCount: 2, secondsDecimalDigits: 0 });
}

/** Relative to now: "in 23h 59m" or "5m 2s ago". */
export function relativeTime(at: number | string, now = Date.now()): string {
  const time = typeof at === 'string' ? Date.parse(at) : at;
  if (!Number.isFinite(time)) return 'unknown';
  return time >= now ? `in ${humanDuration(time - now)}` : `${humanDuration(now - time)} ago`;
}
