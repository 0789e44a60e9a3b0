/**
 * Shared fixtures for the xDS conformance suite: one proto Root per test file, a fresh server
 * per test, and small helpers for nodes and response contents.
 */
import { afterEach, beforeAll, beforeEach } from 'vitest';
import type protobuf from 'protobufjs';
import { loadEnvoyProtos } from '../../src/xds/envoy-proto-loader.js';
import type { DeltaDiscoveryResponse, DiscoveryResponse, NodeInit, XdsCodec } from './ads-client.js';
import { deltaNames, sotwNames } from './ads-client.js';
import { startXdsHarness, type HarnessOptions, type XdsHarness } from './xds-harness.js';

export { TypeUrl } from '../../src/xds/contract.js';

/** How long "no response" assertions wait. */
export const QUIET_MS = 300;

export function node(id: string, extra: Partial<NodeInit> = {}): NodeInit {
  return { id, cluster: 'test', locality: { region: 'r1', zone: 'z1' }, user_agent_name: 'accord-conformance', ...extra };
}

/**
 * Registers hooks that start a fresh harness before each test and close it after. Read the
 * harness through the returned getter inside tests.
 */
export function useHarness(options: Omit<HarnessOptions, 'root'> = {}): () => XdsHarness {
  let root: protobuf.Root | undefined;
  let harness: XdsHarness | undefined;
  beforeAll(() => {
    root = loadEnvoyProtos();
  });
  beforeEach(async () => {
    harness = await startXdsHarness({ ...options, root });
  });
  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });
  return () => {
    if (!harness) throw new Error('harness used outside a test');
    return harness;
  };
}

/** Sorted resource names of a SotW response. */
export function names(codec: XdsCodec, res: DiscoveryResponse): string[] {
  return sotwNames(codec, res).sort();
}

/** Sorted resource names of a Delta response. */
export function dnames(res: DeltaDiscoveryResponse): string[] {
  return deltaNames(res).sort();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Waits until the server reports exactly this subscription for a node's type (requests are async). */
export async function subscriptionIs(h: XdsHarness, nodeId: string, typeUrl: string, expected: readonly string[] | '*'): Promise<void> {
  const want = JSON.stringify(expected === '*' ? '*' : [...expected].sort());
  await eventually(
    () => {
      const t = h.server
        .proxies()
        .find((p) => p.nodeId === nodeId)
        ?.types.find((x) => x.typeUrl === typeUrl);
      if (!t) return undefined;
      const got = JSON.stringify(t.subscribed === '*' ? '*' : [...t.subscribed].sort());
      return got === want ? true : undefined;
    },
    5000,
    `subscription ${want} for ${nodeId} ${typeUrl}`,
  );
}
