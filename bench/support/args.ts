/** Command-line flags of the benchmarks: `--name=value` or `--name value`. */
export function flagValue(argv: readonly string[], name: string): string | undefined {
  const flag = `--${name}`;
  const inline = argv.find((a) => a.startsWith(`${flag}=`));
  if (inline) return inline.slice(flag.length + 1);
  const index = argv.indexOf(flag);
  return index === -1 ? undefined : argv[index + 1];
}

/** A positive number flag, or `fallback` when it is absent. */
export function argNumber(argv: readonly string[], name: string, fallback: number): number {
  const raw = flagValue(argv, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}: expected a positive number`);
  return value;
}
