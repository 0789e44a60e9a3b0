/**
 * A unified diff of two texts, line by line (longest common subsequence), with `context` lines
 * around each change. Small inputs only: it is for dry-run output, not a hot path.
 */
export function unifiedDiff(before: string, after: string, context = 3): string {
  const a = before === '' ? [] : before.split('\n');
  const b = after === '' ? [] : after.split('\n');
  const n = a.length;
  const m = b.length;
  // lcs[i][j] = length of the LCS of a[i:] and b[j:]
  const lcs: Uint32Array[] = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) {
    const row = lcs[i] as Uint32Array;
    const next = lcs[i + 1] as Uint32Array;
    for (let j = m - 1; j >= 0; j -= 1) {
      row[j] = a[i] === b[j] ? (next[j + 1] as number) + 1 : Math.max(next[j] as number, row[j + 1] as number);
    }
  }
  type Line = { op: ' ' | '-' | '+'; text: string };
  const lines: Line[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) {
      lines.push({ op: ' ', text: a[i] as string });
      i += 1;
      j += 1;
    } else if (j < m && (i === n || (lcs[i] as Uint32Array)[j + 1]! >= (lcs[i + 1] as Uint32Array)[j]!)) {
      lines.push({ op: '+', text: b[j] as string });
      j += 1;
    } else {
      lines.push({ op: '-', text: a[i] as string });
      i += 1;
    }
  }
  const keep = new Array<boolean>(lines.length).fill(false);
  lines.forEach((line, index) => {
    if (line.op === ' ') return;
    for (let k = Math.max(0, index - context); k <= Math.min(lines.length - 1, index + context); k += 1) keep[k] = true;
  });
  const out: string[] = [];
  let gap = false;
  lines.forEach((line, index) => {
    if (!keep[index]) {
      gap = true;
      return;
    }
    if (gap && out.length > 0) out.push('@@');
    gap = false;
    out.push(`${line.op}${line.text}`);
  });
  return out.join('\n');
}
