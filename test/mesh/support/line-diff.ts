/** A small unified-style line diff for golden-file failures (common prefix/suffix trimmed, LCS between). */
export function lineDiff(expected: string, actual: string, context = 3): string {
  const a = expected.split('\n');
  const b = actual.split('\n');
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
  const lines: string[] = [`@@ -${start + 1} +${start + 1} @@ (--- expected, +++ actual)`];
  for (const line of a.slice(Math.max(0, start - context), start)) lines.push(`  ${line}`);
  let i = 0;
  let j = 0;
  while (i < midA.length || j < midB.length) {
    if (i < midA.length && j < midB.length && midA[i] === midB[j]) {
      lines.push(`  ${midA[i]}`);
      i++;
      j++;
    } else if (j < midB.length && (i === midA.length || lcs[i][j + 1] >= lcs[i + 1][j])) {
      lines.push(`+ ${midB[j++]}`);
    } else {
      lines.push(`- ${midA[i++]}`);
    }
  }
  for (const line of a.slice(endA, endA + context)) lines.push(`  ${line}`);
  return lines.join('\n');
}
