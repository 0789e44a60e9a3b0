/**
 * The real Accord (in-process composition root, memory store, its own CA) loaded with a golden
 * scenario: the scenario's workloads are written to the store as they are (health and hostnames
 * included) and its policies go through the operator's document format, so the mesh state
 * re-validates them exactly as it does for `accord apply`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { documentsToJson } from '../../src/config/index.js';
import { scenarioDocuments, type Scenario } from '../mesh/support/scenario.js';
import { api, startTestAccord, type TestAccord } from '../app/harness.js';

/** Waits until the mesh state Accord translates from has reached the store's `revision`. */
export async function waitForRevision(accord: TestAccord, revision: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: unknown;
  while (Date.now() < deadline) {
    const body = (await api(accord, 'GET', '/v1/status')).body as { checks?: { registry?: { detail?: { revision?: number } }; policies?: { detail?: { lastChangeOk?: boolean; errors?: string[] } } } };
    seen = body.checks;
    const policies = body.checks?.policies?.detail;
    if (policies && policies.lastChangeOk === false) throw new Error(`Accord rejected the scenario's policies: ${JSON.stringify(policies.errors)}`);
    if ((body.checks?.registry?.detail?.revision ?? 0) >= revision) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`Accord's mesh state did not reach revision ${revision} within ${timeoutMs} ms: ${JSON.stringify(seen)}`);
}

export async function startScenarioAccord(scenario: Scenario, flags: Record<string, string | boolean> = {}): Promise<TestAccord> {
  const accord = await startTestAccord({ trustDomain: scenario.input.policies.mesh.trustDomain, ...flags });
  try {
    const store = accord.handle.store;
    for (const workload of scenario.input.workloads.values()) await store.putWorkload(workload);
    const revision = await store.putPolicies(documentsToJson(scenarioDocuments(scenario)));
    await waitForRevision(accord, revision);
    return accord;
  } catch (error) {
    await accord.close();
    throw error;
  }
}

/** The workload's Envoy bootstrap from the HTTP API (what `accord bootstrap --format envoy` prints). */
export async function envoyBootstrapFor(
  accord: TestAccord,
  workloadId: string,
  options: { delta?: boolean; caBundlePath?: string; xds?: string } = {},
): Promise<string> {
  const query = new URLSearchParams({ format: 'envoy' });
  if (options.delta) query.set('delta', 'true');
  if (options.caBundlePath) query.set('caBundle', options.caBundlePath);
  if (options.xds) query.set('xds', options.xds);
  const response = await api(accord, 'GET', `/v1/workloads/${encodeURIComponent(workloadId)}/bootstrap?${query}`);
  if (response.status !== 200) throw new Error(`bootstrap for ${workloadId}: HTTP ${response.status}: ${response.text}`);
  return response.text;
}

/** Writes the mesh CA bundle (`/v1/ca/bundle`) into `dir` for an Envoy to read; returns its path. */
export async function writeCaBundle(accord: TestAccord, dir: string): Promise<string> {
  const response = await api(accord, 'GET', '/v1/ca/bundle');
  if (response.status !== 200) throw new Error(`CA bundle: HTTP ${response.status}`);
  const file = path.join(dir, 'ca.pem');
  writeFileSync(file, response.text);
  return file;
}
