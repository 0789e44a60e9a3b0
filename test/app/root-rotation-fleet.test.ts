import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ackOf, type SotwStream } from '../support/ads-client.js';
import { api, startTestAccord, type TestAccord } from './harness.js';

const codec = new XdsCodec(loadEnvoyProtos());
const FLEET = 200;
const SLOW_EVERY = 10; // every 10th proxy ACKs 1.5 s late
const STUCK = 0; // proxy 0 ACKs its first response, then never again

const certs = (pem: string): X509Certificate[] =>
  (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []).map((block) => new X509Certificate(block));

interface SimulatedProxy {
  readonly index: number;
  readonly id: string;
  readonly stream: SotwStream;
  ackedTrust: Set<string>;
  heldLeafRoot?: string;
  ackedLeafIssuer?: string;
  stopped: boolean;
}

describe('root rotation against a simulated fleet of raw SDS clients', () => {
  let accord: TestAccord;
  const clients: XdsTestClient[] = [];
  const proxies: SimulatedProxy[] = [];
  const roots = new Map<string, X509Certificate>();
  const violations: string[] = [];
  let leavesChecked = 0;

  /** The root (fingerprint) a chain ends in, among the roots seen in any bundle. */
  const rootOf = (chain: X509Certificate[]): string | undefined => {
    const top = chain[chain.length - 1];
    if (!top) return undefined;
    for (const [fingerprint, root] of roots) if (top.verify(root.publicKey)) return fingerprint;
    return undefined;
  };

  const run = async (proxy: SimulatedProxy): Promise<void> => {
    let first = true;
    while (!proxy.stopped) {
      const response = await proxy.stream.next(120_000).catch(() => undefined);
      if (!response) return;
      const pendingTrust = new Set<string>();
      let trustInResponse = false;
      for (const any of response.resources) {
        const secret = codec.decodeAny(any);
        if (secret.name === 'ROOTCA') {
          trustInResponse = true;
          const bundle = String((secret.validation_context as { trusted_ca: { inline_string: string } }).trusted_ca.inline_string);
          for (const root of certs(bundle)) {
            roots.set(root.fingerprint256, root);
            pendingTrust.add(root.fingerprint256);
          }
        }
      }
      for (const any of response.resources) {
        const secret = codec.decodeAny(any);
        if (secret.name !== 'default') continue;
        const chain = certs(String((secret.tls_certificate as { certificate_chain: { inline_string: string } }).certificate_chain.inline_string));
        const root = rootOf(chain);
        proxy.heldLeafRoot = root;
        // I1: from the moment a proxy holds a leaf, every peer's acknowledged bundle trusts its root.
        leavesChecked += 1;
        for (const peer of proxies) {
          if (peer === proxy || peer.stopped || peer.ackedTrust.size === 0) continue;
          if (!root || !peer.ackedTrust.has(root)) violations.push(`${proxy.id} holds a leaf under ${root} that ${peer.id} does not trust`);
        }
        proxy.ackedLeafIssuer = chain[1]?.fingerprint256;
      }
      if (proxy.index === STUCK && !first) continue;
      if (proxy.index % SLOW_EVERY === 0 && !first) await new Promise((r) => setTimeout(r, 1500));
      if (proxy.stopped) return;
      proxy.stream.send(ackOf(response, ['default', 'ROOTCA']));
      if (trustInResponse) proxy.ackedTrust = pendingTrust;
      first = false;
    }
  };

  beforeAll(async () => {
    accord = await startTestAccord();
    for (let i = 0; i < FLEET; i += 1) {
      const registered = (await api(accord, 'POST', '/v1/workloads', { body: { service: `svc${i % 20}`, address: `10.1.${i >> 8}.${i & 255}`, port: 8080 } })).body as {
        id: string;
        token: string;
      };
      if (i % 50 === 0) clients.push(new XdsTestClient(accord.xds, codec, { channelOptions: { 'grpc.primary_user_agent': `fleet-${i}` } }));
      const stream = (clients[clients.length - 1] as XdsTestClient).sotw('ads', { authorization: `Bearer ${registered.token}` });
      stream.send({ node: { id: registered.id, cluster: 'fleet', user_agent_name: 'envoy', locality: { zone: 'z' } }, type_url: TypeUrl.Secret, resource_names: ['default', 'ROOTCA'] });
      const proxy: SimulatedProxy = { index: i, id: registered.id, stream, ackedTrust: new Set(), stopped: false };
      proxies.push(proxy);
      void run(proxy);
    }
    // Everyone holds a leaf and has ACKed the first bundle.
    const deadline = Date.now() + 30_000;
    while (proxies.some((p) => p.ackedTrust.size === 0 || !p.heldLeafRoot) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  }, 120_000);

  afterAll(async () => {
    for (const proxy of proxies) proxy.stopped = true;
    for (const client of clients) client.close();
    await accord.close();
  });

  it('no phase advances before its gate, invariant I1 holds throughout, and the stuck proxy is reported', async () => {
    const incomplete = proxies.filter((p) => p.ackedTrust.size !== 1 || !p.heldLeafRoot).map((p) => `${p.index}:${p.ackedTrust.size}:${p.heldLeafRoot ?? "-"}`);
    expect(incomplete).toEqual([]);
    const oldRoot = [...(proxies[1] as SimulatedProxy).ackedTrust][0] as string;

    const started = await api(accord, 'POST', '/v1/ca/rotate', { body: {} });
    expect(started.status, started.text).toBe(200);

    const phaseChecks: string[] = [];
    const seen = new Set<string>();
    const observe = async (): Promise<{ phase: string; waitingFor: string[] }> => {
      const status = (await api(accord, 'GET', '/v1/ca')).body as { rootRotation: { phase: string; waitingFor: string[] } };
      const { phase } = status.rootRotation;
      if (!seen.has(phase)) {
        seen.add(phase);
        const live = proxies.filter((p) => !p.stopped);
        // A phase is observed only after its gate held for every connected proxy.
        if (phase === 'P2_SWITCH_ISSUER' && !live.every((p) => p.ackedTrust.size === 2)) phaseChecks.push('P2 began before every proxy ACKed the combined bundle');
        if (phase === 'P3_REMOVE_TRUST' && !live.every((p) => p.ackedLeafIssuer !== undefined && p.heldLeafRoot !== oldRoot)) phaseChecks.push('P3 began while a proxy still held an old leaf');
        if (phase === 'P4_RETIRED' && !live.every((p) => p.ackedTrust.size === 1 && !p.ackedTrust.has(oldRoot))) phaseChecks.push('P4 began before every proxy ACKed the new-only bundle');
      }
      return status.rootRotation;
    };

    // The proxy that never ACKs holds the rotation in P1, and is named as the reason.
    let stuckStatus: { phase: string; waitingFor: string[] } | undefined;
    const stuckDeadline = Date.now() + 30_000;
    while (Date.now() < stuckDeadline) {
      const status = await observe();
      if (status.phase === 'P1_ADD_TRUST' && status.waitingFor.length === 1) {
        stuckStatus = status;
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(stuckStatus?.waitingFor).toEqual([(proxies[STUCK] as SimulatedProxy).id]);
    await new Promise((r) => setTimeout(r, 1500));
    expect((await observe()).phase).toBe('P1_ADD_TRUST');

    // Once it goes away (fenced by the operator), the rotation runs to the end.
    const stuck = proxies[STUCK] as SimulatedProxy;
    stuck.stopped = true;
    stuck.stream.close();
    const endDeadline = Date.now() + 90_000;
    let phase = '';
    while (Date.now() < endDeadline && phase !== 'P4_RETIRED') {
      phase = (await observe()).phase;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(phase).toBe('P4_RETIRED');
    expect([...seen]).toEqual(expect.arrayContaining(['P1_ADD_TRUST', 'P2_SWITCH_ISSUER', 'P3_REMOVE_TRUST', 'P4_RETIRED']));
    expect(phaseChecks).toEqual([]);
    expect(violations).toEqual([]);
    expect(leavesChecked).toBeGreaterThanOrEqual(2 * (FLEET - 1));
    const newRoot = new X509Certificate((await api(accord, 'GET', '/v1/ca/bundle')).text).fingerprint256;
    expect(newRoot).not.toBe(oldRoot);
    expect(proxies.filter((p) => !p.stopped).every((p) => p.heldLeafRoot === newRoot)).toBe(true);
  }, 180_000);
});
