import { describe, expect, it } from 'vitest';
import { lineDiff } from '../../src/app/line-diff.js';

describe('lineDiff', () => {
  it('shows only changed lines with three lines of context, in separate hunks', () => {
    const expected = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
    const actual = [...expected];
    actual[1] = 'changed 2';
    actual[15] = 'changed 16';
    expect(lineDiff(expected.join('\n'), actual.join('\n'))).toBe(
      [
        '--- expected',
        '+++ actual',
        '@@ -1,5 +1,5 @@',
        ' line 1',
        '-line 2',
        '+changed 2',
        ' line 3',
        ' line 4',
        ' line 5',
        '@@ -13,7 +13,7 @@',
        ' line 13',
        ' line 14',
        ' line 15',
        '-line 16',
        '+changed 16',
        ' line 17',
        ' line 18',
        ' line 19',
      ].join('\n'),
    );
  });

  it('reports insertions and deletions', () => {
    expect(lineDiff('a\nb\nc', 'a\nc\nd')).toBe(['--- expected', '+++ actual', '@@ -1,3 +1,3 @@', ' a', '-b', ' c', '+d'].join('\n'));
  });
});
