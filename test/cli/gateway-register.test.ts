import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccordProcess, OPERATOR_TOKEN } from '../e2e/processes.js';
import { runCli, type CliResult } from './run-cli.js';

describe('accord register --gateway', () => {
  let server: AccordProcess;
  const cli = (args: string[]): Promise<CliResult> => runCli(args, { ACCORD_SERVER: server.http, ACCORD_API_TOKEN: OPERATOR_TOKEN });

  beforeAll(async () => {
    server = await AccordProcess.start([]);
  });
  afterAll(async () => {
    await server.stop();
  });

  it('registers a gateway with its own identity and certificate directory; bootstrap gives its Envoy', async () => {
    const registered = await cli(['register', '--gateway', 'edge', '--namespace', 'shop', '--address', '127.0.0.1', '--port', '15000', '--certificate-dir', '/srv/edge/certs', '-o', 'json']);
    expect(registered.code, registered.stderr).toBe(0);
    const { id, spiffeId } = JSON.parse(registered.stdout) as { id: string; spiffeId: string };
    expect(spiffeId).toBe('spiffe://mesh.local/ns/shop/sa/edge');
    const listing = await cli(['workloads', '-o', 'json']);
    const { workloads } = JSON.parse(listing.stdout) as { workloads: { id: string; service: string; gateway?: unknown }[] };
    expect(workloads.find((workload) => workload.id === id)).toMatchObject({ service: 'edge', gateway: { certificateDirectory: '/srv/edge/certs' } });
    const bootstrap = await cli(['bootstrap', '--workload', id, '--format', 'envoy']);
    expect(bootstrap.code, bootstrap.stderr).toBe(0);
    expect(bootstrap.stdout).toContain(`id: ${id}`);
  });

  it('refuses an ambiguous or incomplete command line with exit code 2', async () => {
    for (const args of [
      ['register', '--gateway', 'edge', '--service', 'edge', '--address', '127.0.0.1', '--port', '15000'],
      ['register', '--address', '127.0.0.1', '--port', '15000'],
      ['register', '--service', 'orders', '--address', '127.0.0.1', '--port', '15000', '--certificate-dir', '/srv/x'],
    ]) {
      const result = await cli(args);
      expect(result.code, `accord ${args.join(' ')}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toMatch(/--gateway/);
    }
  });

  it('the server refuses a relative certificate directory, naming the field', async () => {
    const result = await cli(['register', '--gateway', 'edge2', '--address', '127.0.0.1', '--port', '15001', '--certificate-dir', 'relative/certs']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/gateway\.certificateDirectory/);
  });
});
