/**
 * Operator tokens rotate without a restart: `accord serve` reads a token file (one token a line,
 * comments allowed), accepts every token in it on the HTTP API and on CSDS, and follows changes.
 */
import { mkdtemp, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import { XdsCodec, XdsTestClient } from '../support/ads-client.js';
import { AccordProcess, waitFor } from './processes.js';

const codec = new XdsCodec(loadEnvoyProtos());
const OLD = 'old-operator-token-0123456789';
const NEW = 'new-operator-token-9876543210';

describe('operator token file', () => {
  let dir: string;
  let tokenFile: string;
  let accord: AccordProcess;

  /** Replaced the way a mounted Secret or an editor does it: a new file renamed over the old one. */
  const writeTokens = async (text: string): Promise<void> => {
    const next = path.join(dir, `.tokens-${Date.now()}`);
    await writeFile(next, text, { mode: 0o600 });
    await rename(next, tokenFile);
  };
  const httpStatus = async (token: string): Promise<number> =>
    (await fetch(`${accord.http}/v1/workloads`, { headers: { authorization: `Bearer ${token}` } })).status;
  const csdsCode = async (token: string): Promise<number> => {
    const client = new XdsTestClient(accord.xds, codec, { statusMetadata: { authorization: `Bearer ${token}` } });
    try {
      await client.fetchClientStatus({}, 10_000);
      return grpc.status.OK;
    } catch (error) {
      return (error as grpc.ServiceError).code;
    } finally {
      client.close();
    }
  };
  const accepted = async (token: string): Promise<{ http: number; csds: number }> => ({ http: await httpStatus(token), csds: await csdsCode(token) });
  const ALLOWED = { http: 200, csds: grpc.status.OK };
  const REFUSED = { http: 403, csds: grpc.status.PERMISSION_DENIED };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'accord-tokens-'));
    tokenFile = path.join(dir, 'api-tokens');
    await writeFile(tokenFile, `# operator tokens, one a line\n${OLD}\n`, { mode: 0o600 });
    accord = await AccordProcess.start([], { ACCORD_API_TOKEN: '', ACCORD_API_TOKEN_FILE: tokenFile });
  }, 60_000);

  afterAll(async () => {
    await accord?.stop();
  });

  it('adds a token, accepts both, removes the old one and refuses it, all without a restart', async () => {
    const pid = accord.pid;
    expect(await accepted(OLD)).toEqual(ALLOWED);
    expect(await accepted(NEW)).toEqual(REFUSED);

    const addedAt = Date.now();
    await writeTokens(`# rolling out the new token\n${OLD}\n${NEW}\n`);
    await waitFor(async () => ((await httpStatus(NEW)) === 200 ? true : undefined), 20_000, 'the new token to be accepted');
    const addMs = Date.now() - addedAt;
    expect(await accepted(NEW)).toEqual(ALLOWED);
    expect(await accepted(OLD)).toEqual(ALLOWED);

    const removedAt = Date.now();
    await writeTokens(`${NEW}\n`);
    await waitFor(async () => ((await httpStatus(OLD)) === 403 ? true : undefined), 20_000, 'the old token to be refused');
    const removeMs = Date.now() - removedAt;
    expect(await accepted(OLD)).toEqual(REFUSED);
    expect(await accepted(NEW)).toEqual(ALLOWED);

    // A broken file keeps the tokens accepted before, and says where it is broken.
    await writeTokens(`${NEW}\nnot one token\n`);
    await waitFor(async () => (accord.output.join('').includes(`${tokenFile}:2: one token per line`) ? true : undefined), 20_000, 'the rejection to be logged');
    expect(await accepted(NEW)).toEqual(ALLOWED);
    expect(accord.output.join('')).not.toContain(NEW);
    expect(accord.output.join('')).not.toContain(OLD);

    expect(accord.pid).toBe(pid);
    expect(accord.running).toBe(true);
    console.log(JSON.stringify({ addMs, removeMs }));
  }, 120_000);
});
