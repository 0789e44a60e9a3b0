import { describe, expect, it } from 'vitest';
import { parsePolicyStream, readYamlStream, validateEachDocument, type LocatedDocument } from '../../src/config/index.js';
import {
  isUnchanged,
  listedPolicies,
  planApply,
  planDelete,
  planReplace,
  readStoredPolicies,
  toStoredPolicies,
  type PolicyEntry,
} from '../../src/app/policy-changes.js';
import { expectLoaded } from '../config/helpers.js';

const traffic = (name: string, timeout: string): string =>
  `apiVersion: accord.dev/v1\nkind: TrafficPolicy\nmetadata: { name: ${name} }\nspec: { target: ${name}, requestTimeout: ${timeout} }\n`;

function located(...docs: string[]): readonly LocatedDocument[] {
  return expectLoaded(parsePolicyStream(docs.join('---\n'), 'request')).located;
}

/** The set in force as the store would hand it back, written at `revision`. */
function inForce(revision: number, ...docs: string[]): PolicyEntry[] {
  const plan = planReplace([], located(...docs));
  const read = readStoredPolicies(toStoredPolicies(plan.entries), revision);
  if (!read.ok) throw new Error(read.message);
  return read.entries;
}

describe('policy change planning', () => {
  it('apply creates, configures and keeps: objects not given stay, unchanged ones keep their revision', () => {
    const current = inForce(7, traffic('a', '1s'), traffic('b', '1s'));
    const plan = planApply(current, located(traffic('b', '2s'), traffic('c', '1s'), traffic('a', '1s')));
    expect(plan.changes.map((c) => `${c.name} ${c.action}`)).toEqual(['b configured', 'c created', 'a unchanged']);
    expect(plan.entries.map((e) => [e.document.metadata.name, e.revision, e.changed])).toEqual([
      ['a', 7, false],
      ['b', undefined, true],
      ['c', undefined, true],
    ]);
    // Stored, then read back after the write that got revision 9: the changed ones are at 9.
    const read = readStoredPolicies(toStoredPolicies(plan.entries), 9);
    expect(read.ok && read.entries.map((e) => e.revision)).toEqual([7, 9, 9]);
    expect(listedPolicies(current, 7).map((d) => d.metadata.revision)).toEqual([7, 7]);
  });

  it('apply of what is in force changes nothing', () => {
    const current = inForce(3, traffic('a', '1s'));
    expect(isUnchanged(planApply(current, located(traffic('a', '1s'))))).toBe(true);
    expect(isUnchanged(planApply(current, located(traffic('a', '2s'))))).toBe(false);
  });

  it('replace deletes what the given set does not hold; an empty set deletes everything', () => {
    const current = inForce(3, traffic('a', '1s'), traffic('b', '1s'));
    const plan = planReplace(current, located(traffic('b', '1s')));
    expect(plan.changes.map((c) => `${c.name} ${c.action}`)).toEqual(['b unchanged', 'a deleted']);
    expect(plan.entries.map((e) => e.document.metadata.name)).toEqual(['b']);
    expect(planReplace(current, []).changes.map((c) => c.action)).toEqual(['deleted', 'deleted']);
  });

  it('a document given twice stays twice, so validation reports the duplicate', () => {
    const each = validateEachDocument(readYamlStream([traffic('a', '1s'), traffic('a', '2s')].join('---\n'), 'request').documents);
    const plan = planApply([], each.located);
    expect(plan.entries).toHaveLength(2);
    expect(plan.changes).toHaveLength(1);
  });

  it('delete removes the named objects and lists the missing ones', () => {
    const current = inForce(3, traffic('a', '1s'), traffic('b', '1s'));
    const plan = planDelete(current, [
      { kind: 'TrafficPolicy', namespace: 'default', name: 'a' },
      { kind: 'TrafficPolicy', namespace: 'default', name: 'zz' },
    ]);
    expect(plan.entries.map((e) => e.document.metadata.name)).toEqual(['b']);
    expect(plan.changes).toEqual([{ kind: 'TrafficPolicy', namespace: 'default', name: 'a', action: 'deleted' }]);
    expect(plan.missing).toEqual([{ kind: 'TrafficPolicy', namespace: 'default', name: 'zz' }]);
  });
});
