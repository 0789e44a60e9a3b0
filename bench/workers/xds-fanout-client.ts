/**
 * Simulated proxies for the xds-fanout benchmark, run in their own process (child_process.fork).
 * Opens N ADS streams (SotW or Delta) over a few HTTP/2 connections, subscribes each to one EDS
 * name, and ACKs every response at once. Reports over IPC when every stream holds a version.
 */
import * as grpc from '@grpc/grpc-js';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { ENVOY_HTTP2_WINDOW_OPTIONS } from '../support/envoy-flow-control.js';

export type XdsMode = 'sotw' | 'delta';

export interface FanoutClientConfig {
  address: string;
  mode: XdsMode;
  n: number;
  connections: number;
  typeUrl: string;
  resourceName: string;
  nodePrefix: string;
  /** Streams opened per batch (each batch waits for its first responses). */
  batch: number;
}

export type ParentMessage = { cmd: 'start'; config: FanoutClientConfig } | { cmd: 'stop' };
export type ChildMessage =
  | { event: 'ready'; n: number; version: string }
  | { event: 'all-received'; version: string }
  | { event: 'error'; message: string };

const ADS_PATHS: Record<XdsMode, string> = {
  sotw: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  delta: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
};
const identity = (b: Buffer): Buffer => b;

interface ResponseFields {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: { version?: string }[];
}

function send(message: ChildMessage): void {
  process.send?.(message);
}

function start(config: FanoutClientConfig): { stop: () => void } {
  const root = loadEnvoyProtos();
  const delta = config.mode === 'delta';
  const Request = root.lookupType(`envoy.service.discovery.v3.${delta ? 'DeltaDiscoveryRequest' : 'DiscoveryRequest'}`);
  const Response = root.lookupType(`envoy.service.discovery.v3.${delta ? 'DeltaDiscoveryResponse' : 'DiscoveryResponse'}`);
  const encode = (message: object): Buffer => Buffer.from(Request.encode(Request.fromObject(message)).finish());
  // Distinct channel options keep grpc-js from sharing one connection between the channels.
  const channels = Array.from(
    { length: config.connections },
    (_, i) => new grpc.Client(config.address, grpc.credentials.createInsecure(), { 'accord.bench.connection': i, ...ENVOY_HTTP2_WINDOW_OPTIONS }),
  );
  const calls: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  const holders = new Map<string, number>();
  const streamVersion: string[] = [];
  let firstResponses = 0;
  let batchDone: (() => void) | undefined;
  let batchTarget = 0;

  const onResponse = (i: number, call: grpc.ClientDuplexStream<Buffer, Buffer>, bytes: Buffer): void => {
    const res = Response.toObject(Response.decode(bytes), { defaults: true }) as ResponseFields;
    if (delta) {
      call.write(encode({ type_url: res.type_url, response_nonce: res.nonce }));
    } else {
      call.write(encode({ type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: [config.resourceName] }));
    }
    // SotW: the response's version; Delta: the one resource's version.
    const version = delta ? (res.resources[0]?.version ?? '') : res.version_info;
    const previous = streamVersion[i];
    if (previous === undefined) {
      firstResponses++;
      if (firstResponses === batchTarget) batchDone?.();
    } else {
      holders.set(previous, (holders.get(previous) ?? 1) - 1);
    }
    streamVersion[i] = version;
    const count = (holders.get(version) ?? 0) + 1;
    holders.set(version, count);
    if (count === config.n && firstResponses === config.n && previous !== undefined) send({ event: 'all-received', version });
  };

  const open = (i: number): void => {
    const channel = channels[i % channels.length];
    const call = channel.makeBidiStreamRequest<Buffer, Buffer>(ADS_PATHS[config.mode], identity, identity, new grpc.Metadata());
    call.on('data', (bytes: Buffer) => onResponse(i, call, bytes));
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code !== grpc.status.CANCELLED) send({ event: 'error', message: `stream ${i}: ${err.code} ${err.details}` });
    });
    const node = { id: `${config.nodePrefix}${i}`, cluster: 'bench', locality: { region: 'r1', zone: 'z1' } };
    call.write(
      encode(
        delta
          ? { node, type_url: config.typeUrl, resource_names_subscribe: [config.resourceName] }
          : { node, type_url: config.typeUrl, resource_names: [config.resourceName] },
      ),
    );
    calls.push(call);
  };

  void (async () => {
    for (let from = 0; from < config.n; from += config.batch) {
      const to = Math.min(config.n, from + config.batch);
      batchTarget = to;
      const done = new Promise<void>((resolve) => (batchDone = resolve));
      for (let i = from; i < to; i++) open(i);
      await done;
    }
    send({ event: 'ready', n: config.n, version: streamVersion[0] ?? '' });
  })();

  return {
    stop: () => {
      for (const call of calls) call.cancel();
      for (const channel of channels) channel.close();
    },
  };
}

function main(): void {
  let running: { stop: () => void } | undefined;
  process.on('message', (message: ParentMessage) => {
    if (message.cmd === 'start' && !running) {
      try {
        running = start(message.config);
      } catch (err) {
        send({ event: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    } else if (message.cmd === 'stop') {
      running?.stop();
      process.exit(0);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main();
