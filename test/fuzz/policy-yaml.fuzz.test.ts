import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parseAllDocuments, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicyStream, type PolicyLoadResult } from '../../src/config/index.js';
import { call, meshYaml, startIn, tempDir, type Running } from '../security/support.js';
import { fuzzCases, heapMb } from './support.js';

/** This suite's share of ACCORD_FUZZ_CASES (test/fuzz/support.ts). */
const CASES = fuzzCases(0.3);
/** Every this-many cases also goes through the real server (PUT /v1/policies). */
const SERVER_EVERY = 50;

const VALID_DIR = path.resolve(import.meta.dirname, '../config/valid');
const INVALID_DIR = path.resolve(import.meta.dirname, '../config/invalid');

function corpus(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .map((name) => readFileSync(path.join(dir, name), 'utf8'));
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path (list of keys/indexes) to a node of a JSON value. */
function pathsOf(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((item, i) => out.push(...pathsOf(item, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) out.push(...pathsOf(item, [...prefix, key]));
  return out;
}

type Mutation = { kind: 'replace'; value: Json } | { kind: 'delete' } | { kind: 'add'; key: string; value: Json } | { kind: 'duplicate' };

/** Applies one mutation at `at` (a copy; the input is not changed). */
function mutate(doc: Json, at: (string | number)[], mutation: Mutation): Json {
  if (at.length === 0) return mutation.kind === 'replace' ? mutation.value : mutation.kind === 'delete' ? null : doc;
  const copy = structuredClone(doc) as Record<string | number, Json>;
  let parent: Record<string | number, Json> = copy;
  for (const key of at.slice(0, -1)) parent = parent[key] as Record<string | number, Json>;
  const last = at[at.length - 1] as string | number;
  if (mutation.kind === 'replace') parent[last] = mutation.value;
  else if (mutation.kind === 'delete') {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else if (mutation.kind === 'add') {
    const target = parent[last];
    if (target && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, Json>)[mutation.key] = mutation.value;
    else parent[last] = { [mutation.key]: mutation.value };
  } else {
    const target = parent[last];
    if (Array.isArray(target) && target.length > 0) target.push(structuredClone(target[0] as Json));
  }
  return copy;
}

/** What a loader result must look like for any input: documents, or errors that say where and what. */
function checkResult(result: PolicyLoadResult, label: string): void {
  if (result.ok) return;
  expect(result.errors.length, label).toBeGreaterThan(0);
  for (const error of result.errors) {
    expect(error.file, label).toBe('fuzz.yaml');
    expect(Number.isInteger(error.line) && error.line >= 0, label).toBe(true);
    expect(Number.isInteger(error.column) && error.column >= 0, label).toBe(true);
    expect(typeof error.path, label).toBe('string');
    expect(error.message.length, label).toBeGreaterThan(0);
    expect(error.message.length, `${label}: error message length`).toBeLessThan(2_000);
  }
}

describe(`policy YAML fuzz (${CASES} documents through the loader and validator)`, () => {
  const valid = corpus(VALID_DIR);
  const invalid = corpus(INVALID_DIR);
  const validDocs = valid.flatMap((text) => parseAllDocuments(text).map((doc) => doc.toJSON() as Json)).filter((doc) => doc !== null);
  let dir: { dir: string; remove(): Promise<void> };
  let accord: Running;
  let policies: string;

  beforeAll(async () => {
    dir = await tempDir('accord-fuzz-policy-');
    accord = await startIn(dir.dir);
    expect((await call(accord.http, 'PUT', '/v1/policies', { yaml: meshYaml() })).status).toBe(200);
    policies = (await call(accord.http, 'GET', '/v1/policies')).text;
  });
  afterAll(async () => {
    await accord.close();
    await dir.remove();
  });

  /** A mutated valid document: one or a few structural changes, serialised back to YAML. */
  const mutatedDocument = fc
    .record({
      doc: fc.constantFrom(...validDocs),
      picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
      mutations: fc.array(
        fc.oneof(
          fc.jsonValue({ maxDepth: 2 }).map((value): Mutation => ({ kind: 'replace', value: value as Json })),
          fc.constant<Mutation>({ kind: 'delete' }),
          fc.record({ key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('kind', 'apiVersion', 'spec', 'metadata', 'name', 'target', '<<')), value: fc.jsonValue({ maxDepth: 2 }) }).map(
            ({ key, value }): Mutation => ({ kind: 'add', key, value: value as Json }),
          ),
          fc.constant<Mutation>({ kind: 'duplicate' }),
          fc.constantFrom(...(['', -1, 0, 1e308, '999999999h', 'ALLOW', 'DENY', '1s', [], {}, null, 'x'.repeat(5000)] as Json[])).map((value): Mutation => ({ kind: 'replace', value })),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    })
    .map(({ doc, picks, mutations }) => {
      let current: Json = doc;
      mutations.forEach((mutation, i) => {
        const paths = pathsOf(current);
        current = mutate(current, paths[(picks[i % picks.length] ?? 0) % paths.length] ?? [], mutation);
      });
      return stringify(current);
    });

  /** A text-level mutation of a corpus file: characters inserted, deleted or swapped. */
  const mutatedText = fc
    .record({ text: fc.constantFrom(...valid, ...invalid), at: fc.nat(), cut: fc.nat({ max: 40 }), insert: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom(':', '- ', '\t', '{', '[', '"', '&a', '*a', '!!binary', '---\n', '...\n', '\n  ', '<<: *a')) })
    .map(({ text, at, cut, insert }) => {
      const position = at % (text.length + 1);
      return text.slice(0, position) + insert + text.slice(position + cut);
    });

  /** Random YAML: any JSON as YAML, random strings, document streams, anchors and aliases, deep nesting. */
  const randomYaml = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }).map((value) => stringify(value)),
    fc.string({ maxLength: 500 }),
    fc.array(fc.jsonValue({ maxDepth: 3 }).map((value) => stringify(value)), { maxLength: 5 }).map((docs) => docs.join('---\n')),
    fc.integer({ min: 1, max: 300 }).map((depth) => `${'- '.repeat(depth)}x\n`),
    fc.integer({ min: 1, max: 40 }).map((n) => `a: &a [x]\n${Array.from({ length: n }, (_, i) => `b${i}: &b${i} [*${i === 0 ? 'a' : `b${i - 1}`}, *${i === 0 ? 'a' : `b${i - 1}`}]`).join('\n')}\n`),
  );

  const documents = fc.oneof({ weight: 5, arbitrary: mutatedDocument }, { weight: 3, arbitrary: mutatedText }, { weight: 2, arbitrary: randomYaml });

  it('never throws, reports every problem with file/line/column/path, keeps the last good set in force, and the heap returns', async () => {
    const seed = Number(process.env.ACCORD_FUZZ_SEED ?? Date.now() % 2 ** 31);
    let accepted = 0;
    let sentToServer = 0;
    const outcome = async (numRuns: number, runSeed: number): Promise<void> => {
      let count = 0;
      await fc.assert(
        fc.asyncProperty(documents, async (text) => {
          const result = parsePolicyStream(text, 'fuzz.yaml');
          checkResult(result, text.slice(0, 300));
          if (result.ok) accepted += 1;
          count += 1;
          if (count % SERVER_EVERY === 0) {
            sentToServer += 1;
            const answer = await call(accord.http, 'PUT', '/v1/policies', { yaml: text });
            expect(answer.status, `${answer.text.slice(0, 300)}\n--- for ---\n${text.slice(0, 300)}`).toBeLessThan(500);
            if (answer.status === 200) policies = (await call(accord.http, 'GET', '/v1/policies')).text;
            else expect((answer.body as { error: { code: string } }).error.code).toMatch(/^(INVALID_ARGUMENT|UNSUPPORTED_MEDIA_TYPE|PAYLOAD_TOO_LARGE)$/);
          }
        }),
        { numRuns, seed: runSeed, endOnFailure: true },
      );
    };
    const warmup = Math.min(2_000, Math.floor(CASES / 5));
    await outcome(warmup, seed);
    accord.logs.length = 0;
    const baseline = heapMb();
    const started = Date.now();
    await outcome(CASES - warmup, seed + 1);
    accord.logs.length = 0;
    const after = heapMb();
    console.log(
      `policy fuzz: ${CASES} documents (seed ${seed}) in ${((Date.now() - started) / 1000).toFixed(1)} s; ${accepted} loaded, ${CASES - accepted} refused with errors; ` +
        `${sentToServer} also through PUT /v1/policies; heap ${baseline.toFixed(1)} MB -> ${after.toFixed(1)} MB`,
    );
    expect((await call(accord.http, 'GET', '/healthz', { token: null })).status).toBe(200);
    expect((await call(accord.http, 'GET', '/v1/policies')).text).toBe(policies);
    expect(after - baseline).toBeLessThan(40);
  }, 300_000);
});
