import { copyFile, mkdtemp, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/observability/logger.js';
import { PolicyWatcher, type PolicyLoadResult } from '../../src/config/index.js';

const WAIT_MS = 10_000;

function trafficPolicy(target: string, connectTimeout = '1s'): string {
  return `apiVersion: accord.dev/v1
kind: TrafficPolicy
metadata: { name: ${target} }
spec: { target: ${target}, connectTimeout: ${connectTimeout} }
`;
}

/**
 * Writes a file in one step (a hidden temporary file renamed over it), so a reload can never
 * observe it half-written; hidden files are not policies, so the temporary file is ignored.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const temporary = join(dirname(file), `.${basename(file)}.tmp`);
  await writeFile(temporary, text);
  await rename(temporary, file);
}

/** Collects onChange calls and hands them out in order, waiting generously for the next one. */
class ChangeRecorder {
  private readonly pending: PolicyLoadResult[] = [];
  private waiter: ((result: PolicyLoadResult) => void) | undefined;

  readonly onChange = (result: PolicyLoadResult): void => {
    if (this.waiter) {
      const resolve = this.waiter;
      this.waiter = undefined;
      resolve(result);
    } else {
      this.pending.push(result);
    }
  };

  next(): Promise<PolicyLoadResult> {
    const queued = this.pending.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no policy change reported in time')), WAIT_MS);
      this.waiter = (result) => {
        clearTimeout(timer);
        resolve(result);
      };
    });
  }
}

describe('PolicyWatcher', () => {
  let directory: string;
  let watcher: PolicyWatcher | undefined;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'accord-policy-watch-'));
  });

  afterEach(async () => {
    watcher?.close();
    watcher = undefined;
    await rm(directory, { recursive: true, force: true });
  });

  it('reloads a directory on change and keeps the last good set while a file is broken', async () => {
    await writeFile(join(directory, 'payments.yaml'), trafficPolicy('payments'));
    const changes = new ChangeRecorder();
    watcher = new PolicyWatcher({ path: directory, onChange: changes.onChange, logger: silentLogger(), quietMs: 50 });

    const initial = await watcher.start();
    expect(initial.ok && initial.policySet.trafficPolicies.map((policy) => policy.spec.target)).toEqual(['payments']);

    // A new file: a new set.
    await writeAtomically(join(directory, 'orders.yaml'), trafficPolicy('orders'));
    const added = await changes.next();
    expect(added.ok && added.policySet.trafficPolicies.map((policy) => policy.spec.target)).toEqual(['orders', 'payments']);
    const good = watcher.state().policySet;
    expect(good).toEqual(added.ok && added.policySet);

    // A broken file: errors reported, the previous set stays in force.
    await writeAtomically(join(directory, 'orders.yaml'), trafficPolicy('orders', 'soon'));
    const broken = await changes.next();
    expect(broken.ok).toBe(false);
    if (!broken.ok) {
      expect(broken.errors).toEqual([
        expect.objectContaining({ file: join(directory, 'orders.yaml'), line: 4, column: 41, path: 'spec.connectTimeout' }),
      ]);
    }
    expect(watcher.state().policySet).toEqual(good);
    expect(watcher.state().errors).toEqual(broken.ok ? [] : broken.errors);

    // Fixed: the new set applies and the errors clear.
    await writeAtomically(join(directory, 'orders.yaml'), trafficPolicy('orders', '3s'));
    const fixed = await changes.next();
    expect(fixed.ok).toBe(true);
    expect(watcher.state().errors).toEqual([]);
    expect(watcher.state().policySet?.trafficPolicies.find((policy) => policy.spec.target === 'orders')?.spec.connectTimeoutMs).toBe(3000);
  });

  it('watches a single file, surviving an editor-style save (write elsewhere, rename over)', async () => {
    const file = join(directory, 'policies.yaml');
    await writeFile(join(directory, 'unrelated.yaml'), 'this: is not watched: at all\n');
    await writeFile(file, trafficPolicy('payments'));
    const changes = new ChangeRecorder();
    watcher = new PolicyWatcher({ path: file, onChange: changes.onChange, logger: silentLogger(), quietMs: 50 });
    expect((await watcher.start()).ok).toBe(true);

    for (const target of ['ledger', 'audit']) {
      const temporary = join(directory, `.policies.yaml.${target}.tmp`);
      await writeFile(temporary, trafficPolicy(target));
      await rename(temporary, file);
      const change = await changes.next();
      expect(change.ok && change.policySet.trafficPolicies.map((policy) => policy.spec.target)).toEqual([target]);
    }
  });

  it('starts without a good set when the file is missing, and picks the file up when it appears', async () => {
    const file = join(directory, 'policies.yaml');
    const changes = new ChangeRecorder();
    watcher = new PolicyWatcher({ path: file, onChange: changes.onChange, logger: silentLogger(), quietMs: 50 });
    const initial = await watcher.start();
    expect(initial.ok).toBe(false);
    expect(watcher.state().policySet).toBeUndefined();
    expect(watcher.state().errors[0]?.message).toContain('ENOENT');

    await writeAtomically(file, trafficPolicy('payments'));
    const change = await changes.next();
    expect(change.ok && change.policySet.trafficPolicies.map((policy) => policy.spec.target)).toEqual(['payments']);
    expect(watcher.state().errors).toEqual([]);
  });

  it('keeps the previous set for every document of the invalid corpus', async () => {
    await writeFile(join(directory, 'base.yaml'), trafficPolicy('base'));
    watcher = new PolicyWatcher({ path: directory, onChange: () => undefined, logger: silentLogger(), quietMs: 50 });
    const initial = await watcher.start();
    expect(initial.ok).toBe(true);
    const good = watcher.state().policySet;

    const corpus = join('test', 'config', 'invalid');
    // unknown-service.yaml is valid unless the service check is asked for, which the watcher does not do.
    const names = (await readdir(corpus)).filter((name) => name !== 'unknown-service.yaml');
    for (const name of names) {
      const copy = join(directory, name);
      await copyFile(join(corpus, name), copy);
      const result = await watcher.reload();
      expect(result.ok, name).toBe(false);
      expect(watcher.state().policySet, name).toEqual(good);
      expect(watcher.state().errors.length, name).toBeGreaterThan(0);
      await unlink(copy);
    }
    expect((await watcher.reload()).ok).toBe(true);
    expect(watcher.state().errors).toEqual([]);
  });

  it('does not report a reload whose outcome did not change', async () => {
    await writeFile(join(directory, 'a.yaml'), trafficPolicy('a'));
    const changes = new ChangeRecorder();
    watcher = new PolicyWatcher({ path: directory, onChange: changes.onChange, logger: silentLogger(), quietMs: 50 });
    await watcher.start();
    await writeAtomically(join(directory, 'a.yaml'), `# a comment changes nothing\n${trafficPolicy('a')}`);
    await watcher.reload();
    await writeAtomically(join(directory, 'b.yaml'), trafficPolicy('b'));
    const change = await changes.next();
    // The first change the recorder sees is the one that added b, not the comment.
    expect(change.ok && change.policySet.trafficPolicies.map((policy) => policy.spec.target)).toEqual(['a', 'b']);
  });
});
