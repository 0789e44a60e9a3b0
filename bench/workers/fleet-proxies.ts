/**
 * Simulated Envoy proxies for the fleet benchmark, in their own process (child_process.fork).
 * Each proxy opens one ADS (SotW) stream with its workload token and subscribes the way Envoy
 * does: CDS and LDS wildcard, then EDS, RDS and SDS for the names the clusters and listeners
 * reference. It ACKs every response at once and reconnects (with a short jittered backoff) when
 * its stream breaks. Times are wall-clock ms (performance.timeOrigin + now) so the orchestrator
 * can compare them with its own.
 */
import { createHash, hash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { ENVOY_HTTP2_WINDOW_OPTIONS } from '../support/envoy-flow-control.js';

export interface FleetProxy {
  id: string;
  token: string;
}

export interface FleetProxiesConfig {
  address: string;
  proxies: FleetProxy[];
  connections: number;
}

/** A change to time: the first response of `typeUrl` after arming whose bytes contain `marker`. */
export interface ArmedChange {
  typeUrl: string;
  marker: string;
  /** How many proxies the change reaches (default: all); `acked` is sent once that many have ACKed it. */
  proxies?: number;
}

export type FleetParentMessage =
  | { cmd: 'start'; config: FleetProxiesConfig }
  | { cmd: 'arm'; change: ArmedChange }
  | { cmd: 'expect-reconnect' }
  | { cmd: 'stop' };
export type FleetChildMessage =
  | { event: 'configured'; at: number }
  | { event: 'acked'; times: number[] }
  | { event: 'error'; message: string };

const ADS_PATH = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const SDS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';
const identity = (b: Buffer): Buffer => b;
const wallNow = (): number => performance.timeOrigin + performance.now();

function send(message: FleetChildMessage): void {
  process.send?.(message);
}

interface Names {
  eds: Set<string>;
  rds: Set<string>;
  sds: Set<string>;
}

/** Walks a decoded resource, expanding Any messages, collecting the names Envoy would subscribe to. */
function collect(root: protobuf.Root, value: unknown, names: Names, key = ''): void {
  if (value === null || typeof value !== 'object') return;
  if (Array.isArray(value)) {
    for (const item of value) collect(root, item, names, key);
    return;
  }
  const record = value as Record<string, unknown>;
  if (typeof record.type_url === 'string' && record.value instanceof Uint8Array) {
    const type = root.lookupType(record.type_url.slice(record.type_url.lastIndexOf('/') + 1));
    collect(root, type.toObject(type.decode(record.value)), names);
    return;
  }
  if (key === 'rds' && typeof record.route_config_name === 'string') names.rds.add(record.route_config_name);
  if (record.sds_config !== undefined && typeof record.name === 'string') names.sds.add(record.name);
  if (key === '' && record.type === 3 /* EDS */) {
    const eds = record.eds_cluster_config as { service_name?: string } | undefined;
    names.eds.add(eds?.service_name || String(record.name));
  }
  for (const [k, v] of Object.entries(record)) if (k !== 'name') collect(root, v, names, k);
}

/** The fields of a DiscoveryResponse the simulated proxy reads; resources stay undecoded `Any` bytes. */
interface ParsedResponse {
  typeUrl: string;
  versionInfo: string;
  nonce: string;
  resources: Buffer[];
}

/** Reads a varint at `at`; returns it and the offset after it (lengths and tags here fit 32 bits). */
function readVarint(bytes: Buffer, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    if (at >= bytes.length) throw new Error('truncated varint');
    const byte = bytes[at++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
    shift += 7;
  }
}

/**
 * Calls `field` with each top-level field of a protobuf message: its number and, for
 * length-delimited fields, the bytes [start, end); varint fields are skipped. What a real Envoy
 * decodes in full is decoded here only as far as the simulation needs (type, version, nonce,
 * resource count; for CDS and LDS the names the resources reference, once per distinct set).
 */
function eachField(bytes: Buffer, field: (number: number, start: number, end: number) => void): void {
  let at = 0;
  while (at < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, at);
    const wire = tag & 7;
    if (wire === 0) {
      at = readVarint(bytes, afterTag)[1];
    } else if (wire === 2) {
      const [length, start] = readVarint(bytes, afterTag);
      at = start + length;
      if (at > bytes.length) throw new Error('truncated field');
      field(tag >>> 3, start, at);
    } else {
      throw new Error(`unexpected wire type ${wire}`);
    }
  }
}

/** DiscoveryResponse: version_info 1, resources 2, type_url 4, nonce 5 (envoy/service/discovery/v3/discovery.proto). */
function parseResponse(bytes: Buffer): ParsedResponse {
  const parsed: ParsedResponse = { typeUrl: '', versionInfo: '', nonce: '', resources: [] };
  eachField(bytes, (number, start, end) => {
    if (number === 1) parsed.versionInfo = bytes.toString('utf8', start, end);
    else if (number === 2) parsed.resources.push(bytes.subarray(start, end));
    else if (number === 4) parsed.typeUrl = bytes.toString('utf8', start, end);
    else if (number === 5) parsed.nonce = bytes.toString('utf8', start, end);
  });
  return parsed;
}

/** google.protobuf.Any: type_url 1, value 2. */
function parseAny(bytes: Buffer): { typeUrl: string; value: Buffer } {
  let typeUrl = '';
  let value = bytes.subarray(0, 0);
  eachField(bytes, (number, start, end) => {
    if (number === 1) typeUrl = bytes.toString('utf8', start, end);
    else if (number === 2) value = bytes.subarray(start, end);
  });
  return { typeUrl, value };
}

function sameNames(current: readonly string[], next: ReadonlySet<string>): boolean {
  if (current.length !== next.size) return false;
  for (const name of current) if (!next.has(name)) return false;
  return true;
}

class Proxy {
  private call: grpc.ClientDuplexStream<Buffer, Buffer> | undefined;
  private readonly subscribed = new Map<string, string[]>();
  /** Per type: answered since the last subscription change, with as many resources as names. */
  private readonly complete = new Map<string, boolean>();
  private cdsNames: Names = { eds: new Set(), rds: new Set(), sds: new Set() };
  private ldsNames: Names = { eds: new Set(), rds: new Set(), sds: new Set() };
  configured = false;
  /** Set by expect-reconnect: configured counts only on a stream opened after it. */
  awaitingReconnect = false;
  armedAt: number | undefined;

  constructor(
    readonly spec: FleetProxy,
    private readonly fleet: Fleet,
    private readonly channel: grpc.Client,
  ) {}

  open(): void {
    // Wait for the connection instead of failing at once while the control plane is down: the
    // retries are the channel's (every 0.2–1 s, like the stream's own backoff), not one failed
    // call per proxy — 10,000 of those every ≈ 0.6 s saturated this process in the restart.
    const metadata = new grpc.Metadata({ waitForReady: true });
    metadata.set('authorization', `Bearer ${this.spec.token}`);
    const call = this.channel.makeBidiStreamRequest<Buffer, Buffer>(ADS_PATH, identity, identity, metadata);
    this.call = call;
    this.subscribed.clear();
    this.complete.clear();
    this.configured = false;
    const fresh = this.awaitingReconnect;
    this.awaitingReconnect = false;
    if (fresh) this.fleet.reconnected(this);
    call.on('data', (bytes: Buffer) => this.onResponse(bytes));
    call.on('error', () => this.broken(call));
    call.on('end', () => this.broken(call));
    this.subscribe(CDS, [], true);
    this.subscribe(LDS, [], true);
  }

  /** What this proxy waits for, for the debug view. */
  describe(): string {
    return [CDS, LDS, EDS, RDS, SDS]
      .map((t) => `${t.slice(t.lastIndexOf('.') + 1)}:${this.complete.get(t) === true ? 'ok' : this.subscribed.has(t) ? `wait(${this.subscribed.get(t)?.length})` : 'none'}`)
      .join(' ');
  }

  close(): void {
    const call = this.call;
    this.call = undefined;
    call?.cancel();
  }

  private broken(call: grpc.ClientDuplexStream<Buffer, Buffer>): void {
    if (this.call !== call || this.fleet.stopping) return;
    this.call = undefined;
    this.configured = false;
    setTimeout(() => this.open(), 200 + Math.random() * 800);
  }

  private subscribe(typeUrl: string, names: string[], node = false): void {
    this.subscribed.set(typeUrl, names);
    this.complete.set(typeUrl, false);
    this.write({
      ...(node ? { node: { id: this.spec.id, cluster: 'bench', user_agent_name: 'envoy', locality: { zone: 'z' } } } : {}),
      type_url: typeUrl,
      resource_names: names,
    });
  }

  private write(message: Record<string, unknown>): void {
    this.call?.write(this.fleet.encode(message));
  }

  private onResponse(bytes: Buffer): void {
    const res = parseResponse(bytes);
    const typeUrl = res.typeUrl;
    const names = this.subscribed.get(typeUrl) ?? [];
    this.write({ type_url: typeUrl, version_info: res.versionInfo, response_nonce: res.nonce, resource_names: names });
    const ackedAt = wallNow();
    const armed = this.fleet.armed;
    if (armed && this.armedAt === undefined && armed.typeUrl === typeUrl && bytes.includes(armed.marker)) {
      this.armedAt = ackedAt;
      this.fleet.recordAck(ackedAt);
    }
    if (typeUrl === CDS || typeUrl === LDS) {
      const found = this.fleet.namesInAll(typeUrl, res.resources);
      if (typeUrl === CDS) this.cdsNames = found;
      else this.ldsNames = found;
      this.complete.set(typeUrl, true);
      const want: [string, Set<string>][] = [
        [EDS, this.cdsNames.eds],
        [RDS, this.ldsNames.rds],
        [SDS, new Set([...this.cdsNames.sds, ...this.ldsNames.sds])],
      ];
      for (const [type, set] of want) {
        const current = this.subscribed.get(type);
        if (set.size > 0 && (current === undefined || !sameNames(current, set))) this.subscribe(type, [...set].sort());
      }
    } else if (res.resources.length >= names.length) {
      this.complete.set(typeUrl, true);
    }
    if (!this.configured && [CDS, LDS, EDS, RDS, SDS].every((t) => this.complete.get(t) === true)) {
      this.configured = true;
      this.fleet.becameConfigured(this);
    }
  }
}

class Fleet {
  readonly root = loadEnvoyProtos();
  readonly Request = this.root.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  readonly proxies: Proxy[];
  private readonly decoded = new Map<string, Names>();
  private readonly decodedSets = new Map<string, Names>();
  private readonly channels: grpc.Client[];
  stopping = false;
  armed: ArmedChange | undefined;
  private ackTimes: number[] = [];
  private configuredCount = 0;
  private waitingForReconnect = 0;
  private reconnectPhase = false;

  constructor(config: FleetProxiesConfig) {
    // Distinct channel options keep grpc-js from sharing one connection between the channels.
    this.channels = Array.from(
      { length: config.connections },
      (_, i) =>
        new grpc.Client(config.address, grpc.credentials.createInsecure(), {
          'accord.bench.connection': i,
          'grpc.initial_reconnect_backoff_ms': 200,
          'grpc.max_reconnect_backoff_ms': 1000,
          ...ENVOY_HTTP2_WINDOW_OPTIONS,
        }),
    );
    this.proxies = config.proxies.map((spec, i) => new Proxy(spec, this, this.channels[i % this.channels.length] as grpc.Client));
  }

  /**
   * The names one resource references. Every real Envoy decodes its resources on its own CPU; here
   * N proxies share one process, so a resource many proxies receive byte for byte is decoded once
   * (otherwise the figure would time this process's decoding, not the control plane).
   */
  /**
   * The names a whole response's resources reference, kept per distinct set of resources (one
   * digest of their bytes per response instead of one per resource): the proxies of one service
   * receive the same clusters and listeners.
   */
  namesInAll(typeUrl: string, resources: readonly Buffer[]): Names {
    const digest = createHash('sha1');
    for (const resource of resources) digest.update(resource);
    const key = `${typeUrl}\n${resources.length}\n${digest.digest('base64')}`;
    let names = this.decodedSets.get(key);
    if (!names) {
      names = { eds: new Set(), rds: new Set(), sds: new Set() };
      for (const resource of resources) {
        const any = parseAny(resource);
        const own = this.namesIn(any.typeUrl, any.value);
        for (const kind of ['eds', 'rds', 'sds'] as const) for (const name of own[kind]) names[kind].add(name);
      }
      if (this.decodedSets.size > 100_000) this.decodedSets.clear();
      this.decodedSets.set(key, names);
    }
    return names;
  }

  namesIn(typeUrl: string, value: Uint8Array): Names {
    const key = `${typeUrl}\n${hash('sha1', value, 'base64')}`;
    let names = this.decoded.get(key);
    if (!names) {
      names = { eds: new Set(), rds: new Set(), sds: new Set() };
      const type = this.root.lookupType(typeUrl.slice(typeUrl.lastIndexOf('/') + 1));
      collect(this.root, type.toObject(type.decode(value)), names);
      if (this.decoded.size > 100_000) this.decoded.clear();
      this.decoded.set(key, names);
    }
    return names;
  }

  /** Requests are plain objects with the proto's field names and types: encoded without `fromObject`'s copy. */
  encode(message: object): Buffer {
    const bytes = this.Request.encode(message).finish();
    // protobufjs writes into a Node Buffer already: no second copy.
    return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
  }

  start(): void {
    for (const proxy of this.proxies) proxy.open();
    if (process.env.ACCORD_BENCH_DEBUG) {
      setInterval(() => {
        const states = this.proxies.map((p) => p.describe());
        const counts = new Map<string, number>();
        for (const s of states) counts.set(s, (counts.get(s) ?? 0) + 1);
        console.error(`fleet proxies: ${[...counts].map(([s, c]) => `${c}× ${s}`).join(', ')}`);
      }, 5000).unref();
    }
  }

  arm(change: ArmedChange): void {
    this.armed = change;
    this.ackTimes = [];
    for (const proxy of this.proxies) proxy.armedAt = undefined;
  }

  recordAck(at: number): void {
    this.ackTimes.push(at);
    if (this.ackTimes.length === (this.armed?.proxies ?? this.proxies.length)) {
      send({ event: 'acked', times: this.ackTimes });
      this.armed = undefined;
    }
  }

  expectReconnect(): void {
    this.reconnectPhase = true;
    this.configuredCount = 0;
    this.waitingForReconnect = this.proxies.length;
    for (const proxy of this.proxies) proxy.awaitingReconnect = true;
  }

  reconnected(_proxy: Proxy): void {
    this.waitingForReconnect--;
  }

  becameConfigured(proxy: Proxy): void {
    if (this.reconnectPhase && proxy.awaitingReconnect) return;
    this.configuredCount++;
    if (this.configuredCount === this.proxies.length) {
      this.reconnectPhase = false;
      send({ event: 'configured', at: wallNow() });
    }
  }

  stop(): void {
    this.stopping = true;
    for (const proxy of this.proxies) proxy.close();
    for (const channel of this.channels) channel.close();
  }
}

function main(): void {
  // grpc-js reassembles each received message with Buffer.concat: over 4 KB (every CDS and LDS
  // response) a backing store of its own, 1.4 s of this process's CPU at 10,000 proxies.
  Buffer.poolSize = 64 * 1024;
  let fleet: Fleet | undefined;
  process.on('message', (message: FleetParentMessage) => {
    try {
      if (message.cmd === 'start' && !fleet) {
        fleet = new Fleet(message.config);
        fleet.start();
      } else if (message.cmd === 'arm') {
        fleet?.arm(message.change);
      } else if (message.cmd === 'expect-reconnect') {
        fleet?.expectReconnect();
      } else if (message.cmd === 'stop') {
        fleet?.stop();
        process.exit(0);
      }
    } catch (err) {
      send({ event: 'error', message: err instanceof Error ? err.stack ?? err.message : String(err) });
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main();
