/** Decoding of what the Lua scripts store and publish (see redis-scripts.ts for the formats). */
import type { Workload } from '../core/workload.js';
import { POLICIES_KEY, type ChangeEvent, type KvEntry, type StoreState, type StoredWorkload } from './store.js';

/** Splits "<number>:<body>". */
export function splitRecord(record: string): { readonly number: number; readonly body: string } {
  const colon = record.indexOf(':');
  if (colon <= 0) throw new Error(`malformed registry record "${record.slice(0, 40)}"`);
  return { number: Number(record.slice(0, colon)), body: record.slice(colon + 1) };
}

export function decodeWorkload(record: string): StoredWorkload {
  const { number, body } = splitRecord(record);
  return { workload: JSON.parse(body) as Workload, revision: number };
}

export function decodeKv(record: string): KvEntry {
  const { number, body } = splitRecord(record);
  return { value: body, version: number };
}

export type FeedEntry = ChangeEvent | { readonly type: 'restored'; readonly revision: number };

export function decodeFeedEntry(fields: readonly string[]): FeedEntry {
  const f = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) f.set(fields[i] ?? '', fields[i + 1] ?? '');
  const revision = Number(f.get('r'));
  const kind = f.get('k');
  const key = f.get('i') ?? '';
  if (kind === 'restored') return { type: 'restored', revision };
  if (kind === 'workload') {
    if (f.get('o') === 'delete') {
      return { type: 'change', revision, kind, op: 'delete', key, reason: f.get('why') === 'expired' ? 'expired' : 'deleted' };
    }
    return { type: 'change', revision, kind, op: 'put', key, value: JSON.parse(f.get('v') ?? 'null') as Workload };
  }
  if (kind === 'policies') {
    return { type: 'change', revision, kind, op: 'put', key: POLICIES_KEY, value: JSON.parse(f.get('v') ?? '[]') as unknown[] };
  }
  if (kind === 'kv') {
    return { type: 'change', revision, kind, op: 'put', key, value: { value: f.get('v') ?? '', version: Number(f.get('ver')) } };
  }
  throw new Error(`unknown registry feed entry kind "${kind ?? ''}" at revision ${revision}`);
}

export interface SnapshotReply {
  readonly state: StoreState;
  readonly epoch: string;
  /** Stream id of the last feed entry: where tailing continues. */
  readonly lastId: string;
}

export function decodeSnapshot(reply: unknown): SnapshotReply {
  if (!Array.isArray(reply) || reply.length !== 6) throw new Error('malformed registry snapshot reply');
  const [rev, epoch, workloadPairs, policies, kvPairs, lastId] = reply as [string, string, string[], string, string[], string];
  const workloads: StoredWorkload[] = [];
  for (let i = 1; i < workloadPairs.length; i += 2) workloads.push(decodeWorkload(workloadPairs[i] ?? ''));
  const kv: Record<string, KvEntry> = {};
  for (let i = 0; i + 1 < kvPairs.length; i += 2) kv[kvPairs[i] ?? ''] = decodeKv(kvPairs[i + 1] ?? '');
  const policyRecord = policies === '' ? { docs: [], revision: 0 } : decodePolicies(policies);
  return { state: { revision: Number(rev), workloads, policies: policyRecord, kv }, epoch, lastId };
}

export function decodePolicies(record: string): { docs: unknown[]; revision: number } {
  const { number, body } = splitRecord(record);
  return { docs: JSON.parse(body) as unknown[], revision: number };
}

/** A script reply `{status, ...rest}` as a tuple of strings/numbers. */
export type ScriptValue = string | number | readonly ScriptValue[];

export function scriptReply(reply: unknown): { readonly status: string; readonly rest: readonly ScriptValue[] } {
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw new Error('malformed registry script reply');
  return { status: reply[0], rest: reply.slice(1) as ScriptValue[] };
}
