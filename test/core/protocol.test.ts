import { describe, expect, it } from 'vitest';
import { voteProtocol } from '../../src/core/protocol.js';
import type { Protocol } from '../../src/core/workload.js';

const of = (...protocols: Protocol[]) => protocols.map((protocol) => ({ protocol }));

describe('the protocol of a service', () => {
  it.each([
    [of(), 'http', false],
    [of('grpc'), 'grpc', false],
    [of('grpc', 'tcp', 'tcp'), 'tcp', true],
    // A tie goes to the earlier entry of PROTOCOLS (http, http2, grpc, tcp).
    [of('tcp', 'grpc'), 'grpc', true],
    [of('http2', 'http'), 'http', true],
  ] as const)('%j votes %s (mixed: %s)', (workloads, protocol, mixed) => {
    expect(voteProtocol(workloads)).toEqual({ protocol, mixed });
  });
});
