/**
 * The one contract every Store implementation passes. Called from memory-store.test.ts and
 * redis-store.test.ts with a factory that creates a fresh, empty store.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError, StoreUnavailableError, ValidationError } from '../../src/registry/errors.js';
import type { Store } from '../../src/registry/store.js';
import { EventRecorder, sampleWorkload } from './helpers.js';

export interface StoreUnderTest {
  readonly store: Store;
  /** Releases everything the factory created (keys, connections). */
  readonly cleanup: () => Promise<void>;
}

export function describeStoreConformance(name: string, factory: () => Promise<StoreUnderTest>): void {
  describe(`Store conformance: ${name}`, () => {
    let subject: StoreUnderTest;
    let store: Store;

    beforeEach(async () => {
      subject = await factory();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    describe('reports', () => {
      it('keeps one report per replica and kind, replaced on publish, gone after its TTL, outside the revision', async () => {
        const revision = await store.revision();
        await store.putReport('proxy-status', 'replica-a', 'first', 60_000);
        await store.putReport('proxy-status', 'replica-a', 'second', 60_000);
        await store.putReport('proxy-status', 'replica-b', 'other', 400);
        await store.putReport('something-else', 'replica-a', 'elsewhere', 60_000);
        expect([...(await store.listReports('proxy-status'))].sort()).toEqual(['other', 'second']);
        expect(await store.listReports('something-else')).toEqual(['elsewhere']);
        expect(await store.listReports('nothing')).toEqual([]);
        expect(await store.revision()).toBe(revision);
        const deadline = Date.now() + 10_000;
        while ((await store.listReports('proxy-status')).includes('other') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
        expect(await store.listReports('proxy-status')).toEqual(['second']);
      });
    });

    describe('workloads', () => {
      it('puts, gets and lists workloads', async () => {
        expect(await store.getWorkload('orders-abc123')).toBeUndefined();
        const w = sampleWorkload();
        const revision = await store.putWorkload(w);
        expect(revision).toBeGreaterThan(0);
        expect(await store.getWorkload(w.id)).toEqual({ workload: w, revision });
        const other = sampleWorkload({ id: 'orders-def456', address: 'orders-2.internal.example' });
        await store.putWorkload(other);
        const listed = await store.listWorkloads();
        expect(listed.map((s) => s.workload).sort((a, b) => a.id.localeCompare(b.id))).toEqual([w, other]);
      });

      it('keeps its own copy: mutating the caller object later changes nothing', async () => {
        const w = { ...sampleWorkload(), labels: { app: 'orders' } as Record<string, string> };
        await store.putWorkload(w);
        w.labels.app = 'mutated';
        expect((await store.getWorkload(w.id))?.workload.labels.app).toBe('orders');
      });

      it('bumps one store-wide revision per change', async () => {
        const r0 = await store.revision();
        const r1 = await store.putWorkload(sampleWorkload());
        const r2 = await store.putWorkload(sampleWorkload({ port: 8081 }));
        const r3 = await store.deleteWorkload('orders-abc123');
        expect([r1, r2, r3]).toEqual([r0 + 1, r0 + 2, r0 + 3]);
        expect(await store.revision()).toBe(r3);
      });

      it('refuses malformed workloads with every field error', async () => {
        const bad = sampleWorkload({ port: 0, address: 'not an address', service: 'Orders' });
        const error = await store.putWorkload(bad).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ValidationError);
        expect((error as ValidationError).code).toBe('VALIDATION_FAILED');
        expect((error as ValidationError).errors.map((e) => e.field).sort()).toEqual(['address', 'port', 'service']);
        expect(await store.getWorkload(bad.id)).toBeUndefined();
      });

      it('applies optimistic concurrency on put', async () => {
        const created = await store.putWorkload(sampleWorkload(), { expectedRevision: 0 });
        const again = await store.putWorkload(sampleWorkload(), { expectedRevision: 0 }).catch((e: unknown) => e);
        expect(again).toBeInstanceOf(ConflictError);
        expect(again).toMatchObject({ code: 'CONFLICT', expectedRevision: 0, actualRevision: created });
        const stale = await store.putWorkload(sampleWorkload(), { expectedRevision: created + 5 }).catch((e: unknown) => e);
        expect(stale).toBeInstanceOf(ConflictError);
        const updated = await store.putWorkload(sampleWorkload({ port: 9090 }), { expectedRevision: created });
        expect((await store.getWorkload('orders-abc123'))?.revision).toBe(updated);
        const missing = await store.putWorkload(sampleWorkload({ id: 'orders-nope' }), { expectedRevision: 3 }).catch((e: unknown) => e);
        expect(missing).toMatchObject({ code: 'CONFLICT', actualRevision: 0 });
      });

      it('lets exactly one of many concurrent creates win', async () => {
        const results = await Promise.allSettled(
          Array.from({ length: 8 }, (_, i) => store.putWorkload(sampleWorkload({ port: 8000 + i }), { expectedRevision: 0 })),
        );
        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConflictError);
      });

      it('deletes with optimistic concurrency and reports missing workloads', async () => {
        const created = await store.putWorkload(sampleWorkload());
        await expect(store.deleteWorkload('orders-abc123', { expectedRevision: created + 1 })).rejects.toBeInstanceOf(ConflictError);
        await store.deleteWorkload('orders-abc123', { expectedRevision: created });
        expect(await store.getWorkload('orders-abc123')).toBeUndefined();
        const error = await store.deleteWorkload('orders-abc123').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NotFoundError);
        expect((error as NotFoundError).code).toBe('NOT_FOUND');
      });
    });

    describe('services', () => {
      it('derives services from workloads and drops them with their last workload', async () => {
        await store.putWorkload(sampleWorkload({ id: 'orders-1', port: 8080 }));
        await store.putWorkload(sampleWorkload({ id: 'orders-2', port: 8443, address: '10.0.0.2' }));
        await store.putWorkload(
          sampleWorkload({ id: 'payments-1', service: 'payments', serviceAccount: 'payments', protocol: 'grpc', port: 50051 }),
        );
        await store.putWorkload(sampleWorkload({ id: 'orders-3', namespace: 'shop', protocol: 'http2' }));
        const services = [...(await store.listServices())].sort((a, b) =>
          `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`),
        );
        expect(services).toEqual([
          { name: 'orders', namespace: 'default', protocol: 'http', ports: [8080, 8443] },
          { name: 'payments', namespace: 'default', protocol: 'grpc', ports: [50051] },
          { name: 'orders', namespace: 'shop', protocol: 'http2', ports: [8080] },
        ]);
        await store.deleteWorkload('payments-1');
        expect((await store.listServices()).map((s) => s.name).sort()).toEqual(['orders', 'orders']);
      });
    });

    describe('leases', () => {
      it('reaps expired workloads, keeps renewed ones, and publishes the removal', async () => {
        const t0 = 1_000_000;
        const recorder = new EventRecorder(store, await store.revision());
        await store.putWorkload(sampleWorkload({ id: 'short-1', leaseMs: 1000 }), { now: t0 });
        await store.putWorkload(sampleWorkload({ id: 'renewed-1', leaseMs: 1000 }), { now: t0 });
        const forever = await store.putWorkload(sampleWorkload({ id: 'forever-1' }), { now: t0 });

        expect((await store.reapExpired(t0 + 999)).expired).toEqual([]);
        expect(await store.renewLease('renewed-1', t0 + 900)).toBe(t0 + 1900);
        const result = await store.reapExpired(t0 + 1000);
        expect(result).toEqual({ leader: true, expired: ['short-1'] });
        expect(await store.getWorkload('short-1')).toBeUndefined();
        expect(await store.getWorkload('renewed-1')).toBeDefined();
        expect(await store.getWorkload('forever-1')).toBeDefined();

        const reapRevision = await store.revision();
        expect(reapRevision).toBe(forever + 1);
        await recorder.reach(reapRevision);
        expect(recorder.changes().at(-1)).toMatchObject({ kind: 'workload', op: 'delete', key: 'short-1', reason: 'expired' });
        expect((await store.reapExpired(t0 + 1900)).expired).toEqual(['renewed-1']);
        expect((await store.reapExpired(t0 + 10_000_000)).expired).toEqual([]);
        recorder.unsubscribe();
      });

      it('renews only existing workloads; lease-less workloads have no deadline', async () => {
        await expect(store.renewLease('ghost-1', 5)).rejects.toBeInstanceOf(NotFoundError);
        await store.putWorkload(sampleWorkload({ id: 'forever-1' }));
        expect(await store.renewLease('forever-1', 5)).toBeUndefined();
      });

      it('drops the lease when a workload is re-put without one, and on delete', async () => {
        await store.putWorkload(sampleWorkload({ id: 'w-1', leaseMs: 1000 }), { now: 0 });
        await store.putWorkload(sampleWorkload({ id: 'w-1' }), { now: 0 });
        await store.putWorkload(sampleWorkload({ id: 'w-2', leaseMs: 1000 }), { now: 0 });
        await store.deleteWorkload('w-2');
        await store.putWorkload(sampleWorkload({ id: 'w-2' }), { now: 0 });
        expect((await store.reapExpired(5000)).expired).toEqual([]);
        expect(await store.getWorkload('w-1')).toBeDefined();
        expect(await store.getWorkload('w-2')).toBeDefined();
      });

      it('with presence: reaps nothing while joining, then gives every lease a full lease plus the reconnect window', async () => {
        const presence = { absentAfterMs: 1000, reconnectWindowMs: 500 };
        const t0 = 2_000_000;
        await store.putWorkload(sampleWorkload({ id: 'leased-1', leaseMs: 2000 }), { now: t0 });
        await store.putWorkload(sampleWorkload({ id: 'leased-2', leaseMs: 4000 }), { now: t0 });
        await store.putWorkload(sampleWorkload({ id: 'forever-1' }), { now: t0 });
        // This replica starts after the control plane was down for 10 s: every deadline has passed.
        const start = t0 + 10_000;
        expect(await store.reapExpired(start, presence)).toEqual({ leader: false, expired: [], joining: true });
        expect(await store.reapExpired(start + 999, presence)).toEqual({ leader: false, expired: [], joining: true });
        expect(await store.getWorkload('leased-1')).toBeDefined();
        const decided = await store.reapExpired(start + 1000, presence);
        expect(decided).toEqual({ leader: true, expired: [], extended: 2 });
        // A proxy that came back renews; the other lease ends a full lease plus the window after the decision.
        await store.renewLease('leased-2', start + 1200);
        const expiredAt = new Map<string, number>();
        for (let t = start + 1100; t <= start + 6000; t += 100) {
          for (const id of (await store.reapExpired(t, presence)).expired) expiredAt.set(id, t);
        }
        expect(Object.fromEntries(expiredAt)).toEqual({ 'leased-1': start + 1000 + 2000 + 500, 'leased-2': start + 1200 + 4000 });
        expect(await store.getWorkload('forever-1')).toBeDefined();
      });

      it('with presence: a silence longer than absentAfterMs, or rejoin, makes the replica join again', async () => {
        const presence = { absentAfterMs: 1000, reconnectWindowMs: 0 };
        await store.putWorkload(sampleWorkload({ id: 'leased-1', leaseMs: 60_000 }), { now: 0 });
        await store.reapExpired(0, presence);
        expect((await store.reapExpired(1000, presence)).extended).toBe(1);
        expect(await store.reapExpired(2000, presence)).toEqual({ leader: true, expired: [] });
        expect((await store.reapExpired(3001, presence)).joining).toBe(true);
        expect((await store.reapExpired(4001, presence)).extended).toBe(1);
        expect((await store.reapExpired(4500, { ...presence, rejoin: true })).joining).toBe(true);
        expect((await store.reapExpired(5000, presence)).joining).toBe(true);
        expect((await store.reapExpired(5500, presence)).extended).toBe(1);
      });

      it('renewals are not changes', async () => {
        await store.putWorkload(sampleWorkload({ leaseMs: 5000 }), { now: 0 });
        const before = await store.revision();
        await store.renewLease('orders-abc123', 100);
        expect(await store.revision()).toBe(before);
      });
    });

    describe('policies', () => {
      it('stores the policy set atomically with optimistic concurrency', async () => {
        expect(await store.getPolicies()).toEqual({ docs: [], revision: 0 });
        const docs = [
          { kind: 'Mesh', metadata: { name: 'default', namespace: 'default' }, spec: { mtls: 'STRICT' } },
          { kind: 'AuthorizationPolicy', metadata: { name: 'a', namespace: 'default' }, spec: { rules: [] } },
        ];
        const r1 = await store.putPolicies(docs, 0);
        expect(await store.getPolicies()).toEqual({ docs, revision: r1 });
        await expect(store.putPolicies([], 0)).rejects.toBeInstanceOf(ConflictError);
        await expect(store.putPolicies([], r1 + 1)).rejects.toMatchObject({ code: 'CONFLICT', actualRevision: r1 });
        const r2 = await store.putPolicies([docs[0]], r1);
        expect(await store.getPolicies()).toEqual({ docs: [docs[0]], revision: r2 });
        const r3 = await store.putPolicies([]);
        expect(await store.getPolicies()).toEqual({ docs: [], revision: r3 });
      });
    });

    describe('key-value', () => {
      it('creates, versions and compares-and-sets entries', async () => {
        expect(await store.kvGet('ca/root')).toBeUndefined();
        expect(await store.kvPutIfVersion('ca/root', 'pem-1', 1)).toBe(false);
        expect(await store.kvPutIfVersion('ca/root', 'pem-1', undefined)).toBe(true);
        expect(await store.kvGet('ca/root')).toEqual({ value: 'pem-1', version: 1 });
        expect(await store.kvPutIfVersion('ca/root', 'pem-x', undefined)).toBe(false);
        expect(await store.kvPutIfVersion('ca/root', 'pem-2', 1)).toBe(true);
        expect(await store.kvPutIfVersion('ca/root', 'pem-3', 1)).toBe(false);
        expect(await store.kvGet('ca/root')).toEqual({ value: 'pem-2', version: 2 });
      });

      it('keeps arbitrary text intact', async () => {
        const value = '-----BEGIN CERTIFICATE-----\n"quoted" \\ back\u00e9\u{1F511}\n{"json":[1,2]}\n';
        expect(await store.kvPutIfVersion('blob', value, undefined)).toBe(true);
        expect((await store.kvGet('blob'))?.value).toBe(value);
      });

      it('lets exactly one concurrent writer win', async () => {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => store.kvPutIfVersion('rotation', `state-${i}`, undefined)),
        );
        expect(results.filter(Boolean)).toHaveLength(1);
        expect((await store.kvGet('rotation'))?.version).toBe(1);
      });
    });

    describe('watch', () => {
      it('delivers every change after fromRevision, in order, with values', async () => {
        const start = await store.revision();
        const recorder = new EventRecorder(store, start);
        const w = sampleWorkload();
        await store.putWorkload(w);
        await store.putPolicies([{ kind: 'Mesh' }]);
        await store.kvPutIfVersion('k', 'v', undefined);
        const last = await store.deleteWorkload(w.id);
        await recorder.reach(last);
        expect(recorder.resyncs()).toEqual([]);
        expect(recorder.changes()).toEqual([
          { type: 'change', revision: start + 1, kind: 'workload', op: 'put', key: w.id, value: w },
          { type: 'change', revision: start + 2, kind: 'policies', op: 'put', key: 'policies', value: [{ kind: 'Mesh' }] },
          { type: 'change', revision: start + 3, kind: 'kv', op: 'put', key: 'k', value: { value: 'v', version: 1 } },
          { type: 'change', revision: start + 4, kind: 'workload', op: 'delete', key: w.id, reason: 'deleted' },
        ]);
        recorder.unsubscribe();
      });

      it('brings a late watcher to the current state (replay or resync)', async () => {
        await store.putWorkload(sampleWorkload({ id: 'a-1' }));
        await store.putWorkload(sampleWorkload({ id: 'b-1' }));
        await store.putPolicies([{ kind: 'Mesh' }]);
        const last = await store.deleteWorkload('a-1');
        const recorder = new EventRecorder(store, 0);
        await recorder.reach(last);
        expect([...recorder.workloads.keys()]).toEqual(['b-1']);
        expect(recorder.policies).toEqual([{ kind: 'Mesh' }]);
        recorder.unsubscribe();
      });

      it('stops delivering after unsubscribe', async () => {
        const recorder = new EventRecorder(store, await store.revision());
        const first = await store.putWorkload(sampleWorkload());
        await recorder.reach(first);
        recorder.unsubscribe();
        const second = await store.putWorkload(sampleWorkload({ port: 1234 }));
        const probe = new EventRecorder(store, first);
        await probe.reach(second);
        probe.unsubscribe();
        expect(recorder.revision).toBe(first);
      });

      it('keeps delivering to other watchers when one listener throws', async () => {
        const stop = store.watch(await store.revision(), () => {
          throw new Error('listener bug');
        });
        const recorder = new EventRecorder(store, await store.revision());
        const a = await store.putWorkload(sampleWorkload());
        const b = await store.putWorkload(sampleWorkload({ port: 1 }));
        await recorder.reach(b);
        expect(recorder.changes().map((e) => e.revision)).toEqual([a, b]);
        stop();
        recorder.unsubscribe();
      });
    });

    describe('close', () => {
      it('fails operations after close with StoreUnavailableError', async () => {
        await store.close();
        const error = await store.getWorkload('x').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
      });
    });
  });
}
