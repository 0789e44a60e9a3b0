// Issue #9, "make it stay fixed": a property-based fuzz of the xDS edge with fast-check. SotW and
// Delta requests (ADS and per-type services), CSDS requests and raw bytes with random fields, huge
// strings, random type URLs and names. Most cases run through in-process sessions (the same code
// the gRPC server drives), a sample through the real gRPC server. Properties: nothing throws out of
// a session; every refusal is a clear status (never INTERNAL or UNKNOWN) with a short message; CSDS
// answers or says INVALID_ARGUMENT, promptly, and never shows key material; the server stays up, a
// bystander stream keeps its config, and memory returns near its baseline.
//
// Case count: half of ACCORD_FUZZ_CASES (test/fuzz/support.ts: 100,000 by default across the
// xDS, HTTP and policy YAML fuzz suites).
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import type protobuf from 'protobufjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/logger.js';
import { ClientStatusReporter } from '../../../src/xds/csds.js';
import { DeltaSession } from '../../../src/xds/delta-session.js';
import { XdsMetrics } from '../../../src/xds/metrics.js';
import { FlushScheduler } from '../../../src/xds/outbox.js';
import { loadEnvoyProtos } from '../../../src/xds/envoy-proto-loader.js';
import { BadRequestError, RequestDecoder } from '../../../src/xds/requests.js';
import { PER_TYPE_SERVICES } from '../../../src/xds/services.js';
import type { SessionEnvironment } from '../../../src/xds/session.js';
import { SharedResponses } from '../../../src/xds/shared-responses.js';
import { SnapshotCache } from '../../../src/xds/snapshot-cache.js';
import { SotwSession } from '../../../src/xds/sotw-session.js';
import { ResourceEncoder, TypeUrl } from '../../../src/xds/index.js';
import { ack, type SotwStream } from '../../support/ads-client.js';
import { names, node } from '../../support/conformance.js';
import { ResourceFactory } from '../../support/resources.js';
import { RecordingCall } from '../unit/session-harness.js';
import { startXdsHarness, type XdsHarness } from '../../support/xds-harness.js';
import { collectGarbage, fuzzCases } from '../../fuzz/support.js';

/** This suite's share of ACCORD_FUZZ_CASES (test/fuzz/support.ts): half of the run's cases. */
const TOTAL_CASES = fuzzCases(0.5);
const GRPC_CASES = Math.min(1_000, Math.max(50, Math.floor(TOTAL_CASES * 0.01)));
const CSDS_CASES = Math.floor((TOTAL_CASES - GRPC_CASES) * 0.1);
const SESSION_CASES = TOTAL_CASES - GRPC_CASES - CSDS_CASES;
const MAX_NAMES = 50;
/** Status codes a bad request may end a stream with; anything else (INTERNAL, UNKNOWN) is a bug. */
const CLEAR_CODES = new Set(['INVALID_ARGUMENT', 'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'UNAUTHENTICATED', 'NOT_FOUND']);
const KEY_PEM = '-----BEGIN PRIVATE KEY-----\nfuzz-key-material\n-----END PRIVATE KEY-----\n';
const KNOWN_TYPES = Object.values(TypeUrl);

// ---- arbitraries ------------------------------------------------------------------------------

const hugeString = fc.constantFrom(1_023, 1_025, 4_097, 70_000, 300_000).map((n) => 'z'.repeat(n));
const text = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 2, arbitrary: fc.constantFrom('', '*', 'n1', 'n2', 'default', 'ROOTCA', 'c1', 'l1', 'r1', 'secret-of-another') },
  { weight: 1, arbitrary: hugeString },
);
const typeUrl = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KNOWN_TYPES) },
  { weight: 2, arbitrary: fc.string({ maxLength: 30 }).map((s) => `type.googleapis.com/fuzz.${s}`) },
  { weight: 1, arbitrary: text },
);
const nameList = fc.oneof(
  { weight: 8, arbitrary: fc.array(text, { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.integer({ min: MAX_NAMES - 1, max: MAX_NAMES + 3 }).map((n) => Array.from({ length: n }, (_, i) => `n${i}`)) },
);
const nodeArb = fc.record(
  {
    id: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('n1', 'n2', 'n3') }, { weight: 3, arbitrary: text }),
    cluster: text,
    user_agent_name: text,
    user_agent_version: text,
    locality: fc.record({ region: text, zone: text, sub_zone: text }, { requiredKeys: [] }),
    client_features: fc.array(text, { maxLength: 4 }),
  },
  { requiredKeys: [] },
);
const errorDetail = fc.record({ code: fc.integer({ min: 0, max: 16 }), message: text });
/** A nonce: random, or (null) the nonce of the last response the stream got, to ACK/NACK it for real. */
const nonce = fc.option(text, { nil: null, freq: 2 });

const sotwRequest = fc.record(
  {
    version_info: text,
    node: nodeArb,
    resource_names: nameList,
    type_url: typeUrl,
    response_nonce: nonce,
    error_detail: errorDetail,
  },
  { requiredKeys: ['type_url'] },
);
const deltaRequest = fc.record(
  {
    node: nodeArb,
    type_url: typeUrl,
    resource_names_subscribe: nameList,
    resource_names_unsubscribe: nameList,
    initial_resource_versions: fc.dictionary(text, text, { maxKeys: 4 }),
    response_nonce: nonce,
    error_detail: errorDetail,
  },
  { requiredKeys: ['type_url'] },
);
const rawBytes = fc.uint8Array({ maxLength: 120 });

type Step = { kind: 'request'; request: Record<string, unknown> } | { kind: 'bytes'; bytes: Uint8Array };
const steps = (request: fc.Arbitrary<Record<string, unknown>>): fc.Arbitrary<Step[]> =>
  fc.array(
    fc.oneof(
      { weight: 9, arbitrary: request.map((r): Step => ({ kind: 'request', request: r })) },
      { weight: 1, arbitrary: rawBytes.map((bytes): Step => ({ kind: 'bytes', bytes })) },
    ),
    { minLength: 1, maxLength: 5 },
  );
const service = fc.constantFrom<string | undefined>(undefined, ...PER_TYPE_SERVICES.map((s) => s.typeUrl));
const sessionCase = fc.oneof(
  fc.record({ mode: fc.constant('sotw' as const), fixedType: service, steps: steps(sotwRequest), firstNode: fc.boolean() }),
  fc.record({ mode: fc.constant('delta' as const), fixedType: service, steps: steps(deltaRequest), firstNode: fc.boolean() }),
);

type SessionCase = typeof sessionCase extends fc.Arbitrary<infer T> ? T : never;

const regexText = fc.oneof(
  fc.string({ unit: fc.constantFrom('.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '|', '\\', '^', '$', 'a', 'n', '1', '3', ',', 'd', 'w'), maxLength: 40 }),
  fc.constantFrom('.{3}(.*.*)*x', '(a+)+$', '(?<=x)y', '(a{1000}){1000}', 'n\\d', '.*'),
  hugeString,
);
const stringMatcher = fc.oneof(
  fc.record({ exact: text, ignore_case: fc.boolean() }),
  fc.record({ prefix: text, ignore_case: fc.boolean() }),
  fc.record({ suffix: text }),
  fc.record({ contains: text }),
  fc.record({ safe_regex: fc.record({ regex: regexText }) }),
);
const csdsCase = fc.oneof(
  { weight: 9, arbitrary: fc.record({ node_matchers: fc.array(fc.record({ node_id: stringMatcher }), { maxLength: 3 }), exclude_resource_contents: fc.boolean() }).map((r) => ({ request: r })) },
  { weight: 1, arbitrary: rawBytes.map((bytes) => ({ bytes })) },
  { weight: 1, arbitrary: fc.integer({ min: 60, max: 70 }).map((n) => ({ request: { node_matchers: Array.from({ length: n }, () => ({ node_id: { exact: 'n1' } })) } })) },
);

// ---- in-process driving -----------------------------------------------------------------------

function settle(turns = 3): Promise<void> {
  let chain = Promise.resolve();
  for (let i = 0; i < turns; i++) chain = chain.then(() => new Promise((resolve) => setImmediate(resolve)));
  return chain;
}

interface Fixture {
  root: protobuf.Root;
  cache: SnapshotCache;
  env: SessionEnvironment;
  types: { sotw: protobuf.Type; delta: protobuf.Type; sotwResponse: protobuf.Type; deltaResponse: protobuf.Type; any: protobuf.Type };
}

function fixture(root: protobuf.Root): Fixture {
  const encoder = new ResourceEncoder(root);
  const make = new ResourceFactory(encoder);
  const cache = new SnapshotCache({
    authorize: (context, type, name) => (type === TypeUrl.Secret && name === 'secret-of-another' ? `not ${context.node.id}'s secret` : undefined),
  });
  const keySecret = encoder.encode(TypeUrl.Secret, 'default', { name: 'default', tls_certificate: { certificate_chain: { inline_string: 'cert' }, private_key: { inline_string: KEY_PEM } } });
  for (const id of ['n1', 'n2']) {
    cache.setResources(id, TypeUrl.Cluster, [make.cluster('c1'), make.cluster('c2')]);
    cache.setResources(id, TypeUrl.Listener, [make.listener('l1')]);
    cache.setResources(id, TypeUrl.ClusterLoadAssignment, [make.cla('c1')]);
    cache.setResources(id, TypeUrl.RouteConfiguration, [make.route('r1', 'c1')]);
    cache.setResources(id, TypeUrl.Secret, [keySecret, make.secret('ROOTCA'), make.secret('secret-of-another')]);
  }
  let streams = 0;
  const env: SessionEnvironment = {
    source: cache,
    logger: silentLogger(),
    metrics: new XdsMetrics(new Registry()),
    decoder: new RequestDecoder(root, MAX_NAMES),
    responses: new SharedResponses('fuzz'),
    now: Date.now,
    scheduler: new FlushScheduler(),
    nextStreamId: () => `f${++streams}`,
  };
  return {
    root,
    cache,
    env,
    types: {
      sotw: root.lookupType('envoy.service.discovery.v3.DiscoveryRequest'),
      delta: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest'),
      sotwResponse: root.lookupType('envoy.service.discovery.v3.DiscoveryResponse'),
      deltaResponse: root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse'),
      any: root.lookupType('google.protobuf.Any'),
    },
  };
}

/** Encodes a generated request; `response_nonce: null` becomes the nonce of the last response written. */
function encodeStep(f: Fixture, mode: 'sotw' | 'delta', step: Step, call: RecordingCall, firstNode: boolean, index: number): Buffer {
  if (step.kind === 'bytes') return Buffer.from(step.bytes);
  const request: Record<string, unknown> = { ...step.request };
  if (request.response_nonce === null) {
    const last = call.written.at(-1);
    const responseType = mode === 'sotw' ? f.types.sotwResponse : f.types.deltaResponse;
    request.response_nonce = last ? (responseType.decode(last) as unknown as { nonce: string }).nonce : '';
  }
  if (index === 0 && firstNode && !request.node) request.node = { id: 'n1' };
  const type = mode === 'sotw' ? f.types.sotw : f.types.delta;
  return Buffer.from(type.encode(type.fromObject(request)).finish());
}

function assertClearEnd(call: RecordingCall, what: string): void {
  if (!call.ended) return;
  const code = grpc.status[call.ended.code];
  if (!CLEAR_CODES.has(code)) throw new Error(`${what}: ended with ${code}: ${call.ended.details}`);
  if (call.ended.details.length > 2_000) throw new Error(`${what}: a ${call.ended.details.length}-character status message`);
}

// ---- the suite --------------------------------------------------------------------------------

describe(`xDS edge fuzz (${TOTAL_CASES} cases; ACCORD_FUZZ_CASES)`, () => {
  let root: protobuf.Root;
  let f: Fixture;
  let harness: XdsHarness;
  let bystander: SotwStream;
  let baselineHeap = 0;
  const ran = { sessions: 0, csds: 0, grpc: 0 };

  beforeAll(async () => {
    root = loadEnvoyProtos();
    f = fixture(root);
    harness = await startXdsHarness({ root, limits: { maxResourceNamesPerRequest: MAX_NAMES, maxReceiveMessageBytes: 1024 * 1024 } });
    harness.set('bystander', TypeUrl.Cluster, [harness.make.cluster('b1')]);
    bystander = harness.client().sotw();
    bystander.send({ node: node('bystander'), type_url: TypeUrl.Cluster, resource_names: [] });
    ack(bystander, await bystander.next(10_000));
    collectGarbage();
    baselineHeap = process.memoryUsage().heapUsed;
  });
  afterAll(async () => {
    await harness?.close();
    console.log(
      `xDS fuzz: ${ran.sessions + ran.csds + ran.grpc} cases run (${ran.sessions} SotW/Delta sessions in-process, ${ran.csds} CSDS requests in-process, ${ran.grpc} streams and calls over gRPC); ACCORD_FUZZ_CASES=${TOTAL_CASES}`,
    );
  });

  it(`${SESSION_CASES} SotW and Delta sessions: nothing throws, every end is a clear status`, async () => {
    await fc.assert(
      fc.asyncProperty(sessionCase, async (generated) => {
        ran.sessions += 1;
        const call = new RecordingCall();
        const options = { service: generated.fixedType ?? 'ads', fixedType: generated.fixedType };
        const session = generated.mode === 'sotw' ? new SotwSession(f.env, call, options) : new DeltaSession(f.env, call, options);
        try {
          for (const [index, step] of generated.steps.entries()) {
            // Let responses go out first when this step answers one of them.
            if (index > 0 && step.kind === 'request' && step.request.response_nonce === null) await settle();
            if (call.ended) break;
            session.receive(encodeStep(f, generated.mode, step, call, generated.firstNode, index));
          }
          await settle();
          assertClearEnd(call, `${generated.mode} on ${options.service}`);
          const responseType = generated.mode === 'sotw' ? f.types.sotwResponse : f.types.deltaResponse;
          for (const written of call.written) responseType.decode(written);
        } finally {
          session.close();
        }
      }),
      { numRuns: SESSION_CASES },
    );
  }, 300_000);

  it(`${CSDS_CASES} CSDS requests: an answer without key material, or INVALID_ARGUMENT, promptly`, async () => {
    // Subjects: connected sessions, one of which holds a secret with a private key.
    const subjects: SotwSession[] = [];
    for (const id of ['n1', 'n2']) {
      const call = new RecordingCall();
      const session = new SotwSession(f.env, call, { service: 'ads', fixedType: undefined });
      session.receive(Buffer.from(f.types.sotw.encode(f.types.sotw.fromObject({ node: { id }, type_url: TypeUrl.Secret, resource_names: ['default'] })).finish()));
      session.receive(Buffer.from(f.types.sotw.encode(f.types.sotw.fromObject({ type_url: TypeUrl.Cluster })).finish()));
      subjects.push(session);
    }
    await settle(6);
    const reporter = new ClientStatusReporter(root);
    const requestType = root.lookupType('envoy.service.status.v3.ClientStatusRequest');
    const responseType = root.lookupType('envoy.service.status.v3.ClientStatusResponse');
    try {
      fc.assert(
        fc.property(csdsCase, (generated) => {
          ran.csds += 1;
          const bytes = 'bytes' in generated ? generated.bytes : requestType.encode(requestType.fromObject(generated.request)).finish();
          const started = performance.now();
          let answer: Buffer | undefined;
          try {
            answer = reporter.respond(bytes, subjects);
          } catch (error) {
            if (!(error instanceof BadRequestError)) throw error;
            if (error.message.length > 2_000) throw new Error(`a ${error.message.length}-character error`, { cause: error });
          }
          const elapsed = performance.now() - started;
          if (elapsed > 2_000) throw new Error(`CSDS took ${Math.round(elapsed)} ms`);
          if (answer) {
            responseType.decode(answer);
            if (answer.includes('PRIVATE KEY') || answer.includes('fuzz-key-material')) throw new Error('key material in a CSDS answer');
          }
        }),
        { numRuns: CSDS_CASES },
      );
    } finally {
      for (const subject of subjects) subject.close();
    }
  }, 300_000);

  it(`${GRPC_CASES} streams and calls over the real gRPC server: clear errors, the server and a bystander keep going`, async () => {
    const client = harness.client();
    const batch: Promise<void>[] = [];
    const openStream = async (generated: SessionCase): Promise<void> => {
      const serviceName = PER_TYPE_SERVICES.find((s) => s.typeUrl === generated.fixedType);
      const short = serviceName ? ({ [TypeUrl.Listener]: 'lds', [TypeUrl.RouteConfiguration]: 'rds', [TypeUrl.Cluster]: 'cds', [TypeUrl.ClusterLoadAssignment]: 'eds', [TypeUrl.Secret]: 'sds' } as const)[serviceName.typeUrl as typeof TypeUrl.Cluster] : 'ads';
      const stream = generated.mode === 'sotw' ? client.sotw(short) : client.delta(short);
      const recording = new RecordingCall();
      for (const [index, step] of generated.steps.entries()) stream.sendRaw(encodeStep(f, generated.mode, step, recording, generated.firstNode, index));
      const end = await stream.ended(400).catch(() => undefined);
      stream.close();
      if (end && !CLEAR_CODES.has(grpc.status[end.code])) throw new Error(`over gRPC: ended with ${grpc.status[end.code]}: ${end.details}`);
    };
    await fc.assert(
      fc.asyncProperty(fc.oneof({ weight: 4, arbitrary: sessionCase }, { weight: 1, arbitrary: csdsCase }), async (generated) => {
        ran.grpc += 1;
        if ('mode' in generated) batch.push(openStream(generated));
        else {
          const request = 'bytes' in generated ? undefined : generated.request;
          batch.push(
            (request ? client.fetchClientStatusBytes(request) : Promise.reject(new Error('raw'))).then(
              (answer) => {
                if (answer.includes('PRIVATE KEY')) throw new Error('key material in a CSDS answer');
              },
              (error: grpc.ServiceError | Error) => {
                if ('code' in error && !CLEAR_CODES.has(grpc.status[error.code])) throw new Error(`CSDS over gRPC: ${grpc.status[error.code]}: ${error.details}`);
              },
            ),
          );
        }
        if (batch.length >= 50) await Promise.all(batch.splice(0));
      }),
      { numRuns: GRPC_CASES },
    );
    await Promise.all(batch.splice(0));

    // The server is up and the bystander still follows its config.
    harness.set('bystander', TypeUrl.Cluster, [harness.make.cluster('b1'), harness.make.cluster('b2')]);
    expect(names(harness.codec, await bystander.next(10_000))).toEqual(['b1', 'b2']);
    const fresh = harness.client().sotw();
    fresh.send({ node: node('bystander'), type_url: TypeUrl.Cluster, resource_names: [] });
    expect(names(harness.codec, await fresh.next(10_000))).toEqual(['b1', 'b2']);
    fresh.close();
  }, 300_000);

  it('memory returns near its baseline once the fuzzed streams are gone', async () => {
    await settle(10);
    await new Promise((resolve) => setTimeout(resolve, 200));
    collectGarbage();
    const grownMb = (process.memoryUsage().heapUsed - baselineHeap) / 1024 / 1024;
    console.log(`xDS fuzz: heap ${grownMb >= 0 ? '+' : ''}${grownMb.toFixed(1)} MB over the baseline after ${ran.sessions + ran.csds + ran.grpc} cases`);
    expect(grownMb).toBeLessThan(64);
    expect(harness.server.streamCounts().open).toBe(1);
  });
});
