/**
 * `accord status` as a process against two real replicas sharing Redis: one row per connected
 * proxy whichever replica holds its stream, per-type SYNCED / STALE / NACKED / NOT SENT, the
 * certificate's expiry, the full NACK reason for one workload, the same shape over HTTP, and a
 * replica that dies drops out when its report expires.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { TypeUrl } from '../../src/xds/contract.js';
import { XdsCodec, XdsTestClient, ack, nack } from '../support/ads-client.js';
import { AccordProcess, OPERATOR_TOKEN, waitFor } from '../e2e/processes.js';
import { deletePrefix } from '../registry/redis-helpers.js';
import { runCli, type CliResult } from './run-cli.js';

const REDIS = 'redis://127.0.0.1:6379';
const READ_TOKEN = 'status-read-only-token';

interface Row {
  workload: string;
  service: string | null;
  replica: string;
  sync: Record<string, string>;
  nacks: { type: string; errorDetail: string }[];
  certificate: { serial: string; notAfter: string } | null;
}
interface Answer {
  proxies: Row[];
  replicas: { replica: string }[];
  staleAfterSeconds: number;
}

describe('accord status across replicas', () => {
  const prefix = `test-status-${randomBytes(4).toString('hex')}`;
  let one: AccordProcess;
  let two: AccordProcess;
  const clients: XdsTestClient[] = [];
  const cli = (server: AccordProcess, args: string[]): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN });
  const answer = async (server: AccordProcess): Promise<Answer> => {
    const result = await cli(server, ['status', '-o', 'json']);
    expect(result.code, result.stderr).toBe(0);
    return JSON.parse(result.stdout) as Answer;
  };

  beforeAll(async () => {
    const args = ['--redis', REDIS, '--redis-prefix', prefix, '--stale-after', '2s'];
    one = await AccordProcess.start(args, { ACCORD_REPLICA_NAME: 'replica-one', ACCORD_API_READ_TOKEN: READ_TOKEN });
    two = await AccordProcess.start(args, { ACCORD_REPLICA_NAME: 'replica-two' });
  }, 60_000);
  afterAll(async () => {
    for (const client of clients) client.close();
    await Promise.all([one.stop(), two.stop()]);
    await deletePrefix(`{${prefix}}:`, REDIS);
  });

  it('lists every proxy on every replica with its per-type state, its certificate, and the full NACK reason', async () => {
    const register = async (service: string, address: string): Promise<{ id: string; token: string }> => {
      const result = await cli(one, ['register', '--service', service, '--address', address, '--port', '8080', '-o', 'json']);
      expect(result.code, result.stderr).toBe(0);
      return JSON.parse(result.stdout) as { id: string; token: string };
    };
    const payments = await register('payments', '10.1.0.1');
    const web = await register('web', '10.1.0.2');
    const codec = new XdsCodec(loadEnvoyProtos());

    // payments on replica one: CDS and its secrets ACKed, nothing else asked for.
    const good = new XdsTestClient(one.xds, codec, { metadata: { authorization: `Bearer ${payments.token}` } });
    clients.push(good);
    const goodStream = good.sotw();
    const node = (id: string): object => ({ id, user_agent_name: 'envoy', locality: { zone: 'z' } });
    goodStream.send({ node: node(payments.id), type_url: TypeUrl.Cluster, resource_names: [] });
    ack(goodStream, await goodStream.nextOfType(TypeUrl.Cluster, 10_000));
    goodStream.send({ type_url: TypeUrl.Secret, resource_names: ['default', 'ROOTCA'] });
    const secrets = await goodStream.nextWhere((res) => res.type_url === TypeUrl.Secret && res.resources.length === 2, 10_000, 'both secrets');
    ack(goodStream, secrets);

    // web on replica two: CDS NACKed with a long reason, LDS sent and never answered.
    const bad = new XdsTestClient(two.xds, codec, { metadata: { authorization: `Bearer ${web.token}` } });
    clients.push(bad);
    const badStream = bad.sotw();
    const reason = `cluster outbound|8080||payments: invalid TLS context: ${'x'.repeat(200)} END-OF-REASON`;
    badStream.send({ node: node(web.id), type_url: TypeUrl.Cluster, resource_names: [] });
    nack(badStream, await badStream.nextOfType(TypeUrl.Cluster, 10_000), '', reason);
    badStream.send({ type_url: TypeUrl.Listener, resource_names: [] });
    await badStream.nextOfType(TypeUrl.Listener, 10_000);

    const settled = await waitFor(
      async () => {
        const status = await answer(one);
        const p = status.proxies.find((row) => row.workload === payments.id);
        const w = status.proxies.find((row) => row.workload === web.id);
        return p?.sync.SDS === 'SYNCED' && w?.sync.LDS === 'STALE' && w.sync.CDS === 'NACKED' && w.certificate ? status : undefined;
      },
      30_000,
      'both proxies in their final state on replica one',
    );
    expect(settled.replicas.map((r) => r.replica)).toEqual(['replica-one', 'replica-two']);
    expect(settled.staleAfterSeconds).toBe(2);
    const p = settled.proxies.find((row) => row.workload === payments.id);
    const w = settled.proxies.find((row) => row.workload === web.id);
    expect(p).toMatchObject({ service: 'payments', replica: 'replica-one', sync: { CDS: 'SYNCED', SDS: 'SYNCED', LDS: 'NOT SENT', RDS: 'NOT SENT', EDS: 'NOT SENT' }, nacks: [] });
    expect(p?.certificate?.serial).toMatch(/^[0-9a-f]+$/);
    expect(Date.parse(p?.certificate?.notAfter ?? '')).toBeGreaterThan(Date.now());
    expect(w).toMatchObject({ service: 'web', replica: 'replica-two', sync: { CDS: 'NACKED', LDS: 'STALE', SDS: 'NOT SENT' } });
    // An Envoy's leaf is signed as its stream opens, before it asks for it (here it never does).
    expect(w?.certificate?.serial).toMatch(/^[0-9a-f]+$/);
    expect(w?.certificate?.serial).not.toBe(p?.certificate?.serial);
    expect(w?.nacks).toEqual([expect.objectContaining({ type: 'CDS', errorDetail: reason })]);
    // Replica two answers the same rows.
    const fromTwo = await answer(two);
    expect(fromTwo.proxies.map((row) => `${row.workload}@${row.replica}`).sort()).toEqual(settled.proxies.map((row) => `${row.workload}@${row.replica}`).sort());

    const table = await cli(one, ['status']);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^WORKLOAD\s+SERVICE\s+REPLICA\s+CONNECTED\s+CDS\s+EDS\s+LDS\s+RDS\s+SDS\s+CERT EXPIRES$/m);
    expect(table.stdout).toMatch(new RegExp(`^${payments.id}\\s+payments\\s+replica-one\\s+\\S+( \\S+)?\\s+SYNCED\\s+NOT SENT\\s+NOT SENT\\s+NOT SENT\\s+SYNCED\\s+in \\d+h`, 'm'));
    expect(table.stdout).toMatch(new RegExp(`^${web.id}\\s+web\\s+replica-two\\s+.*NACKED\\s+NOT SENT\\s+STALE\\s+NOT SENT\\s+NOT SENT\\s+in \\d+h`, 'm'));
    expect(table.stdout).toContain(`NACKED: ${web.id}`);
    expect(table.stdout).not.toContain('END-OF-REASON');

    const detail = await cli(one, ['status', web.id]);
    expect(detail.code, detail.stderr).toBe(0);
    expect(detail.stdout).toContain(reason);
    expect(detail.stdout).toMatch(/^replica:\s+replica-two$/m);
    expect(detail.stdout).toMatch(/^ {2}LDS {2}STALE$/m);

    const missing = await cli(one, ['status', 'no-such-workload']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^accord: no proxy of workload "no-such-workload" is connected to any replica\n$/);

    // The HTTP API answers the read-only token with the shape `-o json` prints.
    const http = await fetch(`${one.http}/v1/proxy-status`, { headers: { authorization: `Bearer ${READ_TOKEN}` } });
    expect(http.status).toBe(200);
    const body = (await http.json()) as Answer;
    expect(Object.keys(body).sort()).toEqual(Object.keys(settled).sort());
    expect(body.proxies.map((row) => ({ ...row, sync: undefined }))).toEqual(settled.proxies.map((row) => ({ ...row, sync: undefined })));
    expect((await fetch(`${one.http}/v1/proxy-status`)).status).toBe(401);
  }, 90_000);

  it('a replica that dies drops out of the list once its report expires', async () => {
    const before = await answer(one);
    expect(before.proxies.some((row) => row.replica === 'replica-two')).toBe(true);
    two.kill9();
    await waitFor(
      async () => {
        const status = await answer(one);
        return status.replicas.every((r) => r.replica !== 'replica-two') && status.proxies.every((row) => row.replica !== 'replica-two') ? true : undefined;
      },
      30_000,
      'replica two to drop out',
    );
  }, 60_000);
});
