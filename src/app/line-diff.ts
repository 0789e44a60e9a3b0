/**
 * A unified line diff: LCS over the differing middle, `context` lines around each change, hunk
 * headers with line numbers. Used for dry-run output and golden-file failures; small inputs only.
 */

interface Op {
  readonly kind: ' ' | '-' | '+';
  readonly line: string;
}

function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const midA = a.slice(start, endA);
  const midB = b.slice(start, endB);
  const lcs: number[][] = Array.from({ length: midA.length + 1 }, () => new Array<number>(midB.length + 1).fill(0));
  for (let i = midA.length - 1; i >= 0; i--) {
    for (let j = midB.length - 1; j >= 0; j--) {
      lcs[i][j] = midA[i] === midB[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const ops: Op[] = a.slice(0, start).map((line) => ({ kind: ' ', line }));
  let i = 0;
  let j = 0;
  while (i < midA.length || j < midB.length) {
    if (i < midA.length && j < midB.length && midA[i] === midB[j]) {
      ops.push({ kind: ' ', line: midA[i] });
      i++;
      j++;
    } else if (i < midA.length && (j === midB.length || lcs[i + 1][j] >= lcs[i][j + 1])) {
      ops.push({ kind: '-', line: midA[i++] });
    } else {
      ops.push({ kind: '+', line: midB[j++] });
    }
  }
  for (const line of a.slice(endA)) ops.push({ kind: ' ', line });
  return ops;
}

export function lineDiff(before: string, after: string, options: { readonly labels?: readonly [string, string]; readonly context?: number } = {}): string {
  const context = options.context ?? 3;
  const [beforeLabel, afterLabel] = options.labels ?? ['expected', 'actual'];
  const ops = editScript(before.split('\n'), after.split('\n'));
  const changed = ops.flatMap((op, index) => (op.kind === ' ' ? [] : [index]));
  const out: string[] = [`--- ${beforeLabel}`, `+++ ${afterLabel}`];
  let h = 0;
  while (h < changed.length) {
    const from = Math.max(0, changed[h] - context);
    let to = Math.min(ops.length, changed[h] + context + 1);
    while (h + 1 < changed.length && changed[h + 1] - context <= to) to = Math.min(ops.length, changed[++h] + context + 1);
    h++;
    const before = ops.slice(0, from);
    const lineA = before.filter((op) => op.kind !== '+').length + 1;
    const lineB = before.filter((op) => op.kind !== '-').length + 1;
    const hunk = ops.slice(from, to);
    out.push(`@@ -${lineA},${hunk.filter((op) => op.kind !== '+').length} +${lineB},${hunk.filter((op) => op.kind !== '-').length} @@`);
    for (const op of hunk) out.push(`${op.kind}${op.line}`);
  }
  return out.join('\n');
}
