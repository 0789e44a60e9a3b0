/**
 * Drives SotW and Delta sessions directly through a recording XdsCall: no sockets, exact
 * control over request order and the clock.
 */
import { Metadata, status as GrpcStatus } from '@grpc/grpc-js';
import { Registry } from 'prom-client';
import type protobuf from 'protobufjs';
import { silentLogger } from '../../../src/observability/logger.js';
import type { ConfigSource } from '../../../src/xds/contract.js';
import { DeltaSession } from '../../../src/xds/delta-session.js';
import { XdsMetrics } from '../../../src/xds/metrics.js';
import { FlushScheduler } from '../../../src/xds/outbox.js';
import { RequestDecoder } from '../../../src/xds/requests.js';
import type { SessionEnvironment, XdsCall } from '../../../src/xds/session.js';
import { SharedResponses } from '../../../src/xds/shared-responses.js';
import { SotwSession } from '../../../src/xds/sotw-session.js';

export class RecordingCall implements XdsCall {
  readonly peer = '127.0.0.1:40000';
  readonly metadata = new Metadata();
  readonly written: Buffer[] = [];
  ended: { code: GrpcStatus; details: string } | undefined;
  write(message: Buffer, written: () => void): boolean {
    this.written.push(message);
    setImmediate(written);
    return true;
  }
  end(code: GrpcStatus, details: string): void {
    this.ended = { code, details };
  }
  authenticated(): undefined {
    return undefined;
  }
}

export interface Clock {
  now: number;
}

export function sessionEnvironment(root: protobuf.Root, source: ConfigSource, clock: Clock, registry = new Registry()): SessionEnvironment {
  let streams = 0;
  return {
    source,
    logger: silentLogger(),
    metrics: new XdsMetrics(registry),
    decoder: new RequestDecoder(root, 100),
    responses: new SharedResponses('unit'),
    now: () => clock.now,
    scheduler: new FlushScheduler(),
    nextStreamId: () => `s${++streams}`,
  };
}

export async function settle(turns = 6): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setImmediate(resolve));
}

export interface SotwResponseObject {
  version_info: string;
  type_url: string;
  nonce: string;
  resources: { type_url: string; value: Uint8Array }[];
}

export interface DeltaResponseObject {
  type_url: string;
  nonce: string;
  resources: { name: string; version: string }[];
  removed_resources: string[];
}

export class SessionDriver {
  private readonly sotwRequest: protobuf.Type;
  private readonly deltaRequest: protobuf.Type;
  private readonly sotwResponse: protobuf.Type;
  private readonly deltaResponse: protobuf.Type;
  private readonly anyDecoders = new Map<string, protobuf.Type>();
  private read = 0;

  constructor(
    private readonly root: protobuf.Root,
    readonly call: RecordingCall,
    readonly session: SotwSession | DeltaSession,
  ) {
    this.sotwRequest = root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
    this.deltaRequest = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryRequest');
    this.sotwResponse = root.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
    this.deltaResponse = root.lookupType('envoy.service.discovery.v3.DeltaDiscoveryResponse');
  }

  static sotw(root: protobuf.Root, env: SessionEnvironment, fixedType?: string): SessionDriver {
    const call = new RecordingCall();
    return new SessionDriver(root, call, new SotwSession(env, call, { service: fixedType ?? 'ads', fixedType }));
  }

  static delta(root: protobuf.Root, env: SessionEnvironment, fixedType?: string): SessionDriver {
    const call = new RecordingCall();
    return new SessionDriver(root, call, new DeltaSession(env, call, { service: fixedType ?? 'ads', fixedType }));
  }

  send(request: Record<string, unknown>): void {
    const type = this.session instanceof SotwSession ? this.sotwRequest : this.deltaRequest;
    this.session.receive(Buffer.from(type.encode(type.fromObject(request)).finish()));
  }

  /** Responses written since the last call. */
  newSotw(): SotwResponseObject[] {
    return this.take().map((bytes) => this.sotwResponse.toObject(this.sotwResponse.decode(bytes), { defaults: true }) as SotwResponseObject);
  }

  newDelta(): DeltaResponseObject[] {
    return this.take().map((bytes) => this.deltaResponse.toObject(this.deltaResponse.decode(bytes), { defaults: true }) as DeltaResponseObject);
  }

  /** Names of the resources of a SotW response. */
  names(response: SotwResponseObject): string[] {
    return response.resources.map((any) => {
      const typeName = any.type_url.slice(any.type_url.lastIndexOf('/') + 1);
      let type = this.anyDecoders.get(typeName);
      if (!type) {
        type = this.root.lookupType(typeName);
        this.anyDecoders.set(typeName, type);
      }
      const message = type.decode(any.value) as unknown as { name?: string; cluster_name?: string };
      return message.name || message.cluster_name || '';
    });
  }

  private take(): Buffer[] {
    const out = this.call.written.slice(this.read);
    this.read = this.call.written.length;
    return out;
  }
}
