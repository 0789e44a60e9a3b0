import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ackOf } from '../support/ads-client.js';

const codec = new XdsCodec(loadEnvoyProtos());

export interface ProxyWorkload {
  readonly id: string;
  readonly token: string;
  readonly service: string;
}

export interface Backoff {
  readonly baseMs: number;
  readonly maxMs: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A sidecar's ADS connection as Envoy keeps it: one stream to a control-plane replica, and when it
 * ends, reconnects after a jittered exponential backoff (Envoy: 500 ms base), trying the replicas in
 * turn. While its stream is open, the replica renews its workload's lease.
 */
export class ReconnectingProxy {
  /** When the current stream got its first response (undefined while disconnected). */
  connectedAt: number | undefined;
  connections = 0;
  private client: XdsTestClient | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    readonly workload: ProxyWorkload,
    private readonly addresses: () => readonly string[],
    private readonly backoff: Backoff = { baseMs: 500, maxMs: 4000 },
    private readonly firstAddress = 0,
  ) {}

  start(delayMs = 0): void {
    this.stopped = false;
    this.loop = this.run(delayMs);
  }

  /** Disconnects and never comes back. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.client?.close();
    await this.loop;
  }

  private async run(delayMs: number): Promise<void> {
    if (delayMs > 0) await sleep(delayMs);
    let attempt = 0;
    let next = this.firstAddress;
    while (!this.stopped) {
      const addresses = this.addresses();
      const address = addresses[next % addresses.length] as string;
      next += 1;
      const client = new XdsTestClient(address, codec, { metadata: { authorization: `Bearer ${this.workload.token}` } });
      this.client = client;
      try {
        const stream = client.sotw();
        stream.send({ node: { id: this.workload.id, cluster: this.workload.service, user_agent_name: 'envoy', locality: { zone: 'z1' } }, type_url: TypeUrl.Cluster, resource_names: [] });
        const cds = await stream.nextOfType(TypeUrl.Cluster, 10_000);
        stream.send(ackOf(cds, []));
        this.connections += 1;
        this.connectedAt = Date.now();
        attempt = 0;
        while (!stream.isEnded && !this.stopped) await sleep(100);
      } catch {
        // refused, or ended before it was answered: back off and try the next replica
      }
      this.connectedAt = undefined;
      client.close();
      if (this.stopped) break;
      const ceiling = Math.min(this.backoff.maxMs, this.backoff.baseMs * 2 ** attempt);
      attempt += 1;
      await sleep(ceiling * (0.5 + Math.random() / 2));
    }
  }
}
