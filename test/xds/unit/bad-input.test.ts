import { randomBytes } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { ResourceEncoder } from '../../../src/xds/encoder.js';
import { SnapshotCache } from '../../../src/xds/snapshot-cache.js';
import { TypeUrl } from '../../../src/xds/contract.js';
import { envoyRoot } from './protos.js';
import { SessionDriver, sessionEnvironment, settle } from './session-harness.js';

const root = envoyRoot();
const encoder = new ResourceEncoder(root);
const node = { id: 'n1' };

function freshEnv() {
  const cache = new SnapshotCache();
  cache.setResources('n1', TypeUrl.Cluster, [encoder.encode(TypeUrl.Cluster, 'c1', { name: 'c1' })]);
  return sessionEnvironment(root, cache, { now: 0 });
}

describe('bad input', () => {
  it('random bytes never throw out of a session: the stream ends with INVALID_ARGUMENT or keeps going', async () => {
    for (let i = 0; i < 300; i++) {
      const env = freshEnv();
      for (const s of [SessionDriver.sotw(root, env), SessionDriver.delta(root, env)]) {
        expect(() => s.session.receive(randomBytes(1 + (i % 64)))).not.toThrow();
        if (s.call.ended) expect(s.call.ended.code).toBe(GrpcStatus.INVALID_ARGUMENT);
        s.session.close();
      }
    }
    await settle();
  });

  it('ends a stream whose first request has no node, and one for another type on a per-type service', async () => {
    const env = freshEnv();
    const noNode = SessionDriver.sotw(root, env);
    noNode.send({ type_url: TypeUrl.Cluster });
    expect(noNode.call.ended).toEqual({ code: GrpcStatus.INVALID_ARGUMENT, details: 'node: required on the first request of a stream' });

    const wrongType = SessionDriver.delta(root, env, TypeUrl.Cluster);
    wrongType.send({ node, type_url: TypeUrl.Listener });
    expect(wrongType.call.ended?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
    expect(wrongType.call.ended?.details).toMatch(/^type_url: .*Listener is not served by this service/);
  });

  it('refuses a 33rd type on one ADS stream and holds unknown types without answering', async () => {
    const env = freshEnv();
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: TypeUrl.Cluster });
    await settle();
    for (let i = 0; i < 31; i++) s.send({ type_url: `type.googleapis.com/unknown.T${i}`, resource_names: ['x'] });
    await settle();
    expect(s.newSotw().map((r) => r.type_url)).toEqual([TypeUrl.Cluster]);
    expect(s.call.ended).toBeUndefined();
    s.send({ type_url: 'type.googleapis.com/unknown.T99' });
    expect(s.call.ended?.code).toBe(GrpcStatus.INVALID_ARGUMENT);
  });

  it('a source that throws from interest() ends only that stream, with INTERNAL', async () => {
    const cache = new SnapshotCache();
    const env = sessionEnvironment(root, { open: (ctx) => ({ ...cache.open(ctx), interest: () => { throw new Error('boom'); } }) }, { now: 0 });
    const s = SessionDriver.sotw(root, env);
    s.send({ node, type_url: TypeUrl.Cluster });
    await settle();
    expect(s.call.ended).toEqual({ code: GrpcStatus.INTERNAL, details: 'internal error' });
  });
});
